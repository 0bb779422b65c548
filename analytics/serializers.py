from datetime import timedelta
from typing import Any

import msgspec
from django.conf import settings
from django.core.validators import RegexValidator, URLValidator
from django.utils import timezone
from rest_framework import serializers

from analytics.models import MAX_EXECUTION_TIME_MS, Execution
from workflows.definitions import MAX_ACTIONS, MAX_BATCH

MAX_CONFIG_BYTES = 4096
MAX_CONFIG_DEPTH = 8

http_url = URLValidator(schemes=["http", "https"], message="Enter an http(s) URL.")
client_id = RegexValidator(
    r"^[A-Za-z0-9_.:\-]+$", "Use only letters, digits and _ . : - (at most 64)."
)


class WorkflowIdField(serializers.UUIDField):
    """A workflow's id as text: DRF's UUIDField would also turn the number 42 into a UUID."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class ActionSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    selector = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    executionTimeMs = serializers.IntegerField(
        source="execution_time_ms",
        min_value=0,
        max_value=MAX_EXECUTION_TIME_MS,
        required=False,
        allow_null=True,
    )
    config = serializers.DictField(required=False)
    error = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    def validate_config(self, value: dict[str, Any]) -> dict[str, Any]:
        encoded = _plainly_storable(value)
        if encoded is None:
            problem = json_problem(value)  # first: what it finds, JSON cannot encode
            if problem:
                raise serializers.ValidationError(problem)
            encoded = msgspec.json.encode(value)
        if len(encoded) > MAX_CONFIG_BYTES:
            raise serializers.ValidationError(f"Must be at most {MAX_CONFIG_BYTES} bytes as JSON.")
        return value


def _plainly_storable(value: Any) -> bytes | None:
    """`value` as JSON when, at a glance, `json_problem` would find nothing: it encodes (no lone
    surrogate), holds no NUL and has fewer brackets than the depth limit, counting those
    inside strings too. None when it takes that walk, which plain configs need not pay for."""
    try:
        encoded = msgspec.json.encode(value)
    except UnicodeEncodeError:
        return None
    if b"\\u0000" in encoded or encoded.count(b"{") + encoded.count(b"[") >= MAX_CONFIG_DEPTH:
        return None
    return encoded


def json_problem(value: Any) -> str | None:
    """Why PostgreSQL's jsonb would refuse `value` (or why it is too deep), if it would."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_CONFIG_DEPTH:
            return f"Must be nested at most {MAX_CONFIG_DEPTH} levels deep."
        if isinstance(item, dict):
            pending.extend((key, depth) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "Must not contain NUL characters."
            if not item.isascii() and not _encodable(item):
                return "Must be valid Unicode text."
    return None


def _encodable(text: str) -> bool:
    """False for text with lone surrogates, which UTF-8 (and jsonb) cannot hold."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class TrackExecutionSerializer(serializers.Serializer):
    """The spec's execution record, plus `executionId` (idempotency) and `startedAt`."""

    workflowId = WorkflowIdField(source="workflow_id")
    userId = serializers.CharField(
        source="client_user_id", max_length=128, required=False, allow_blank=True
    )
    status = serializers.ChoiceField(choices=Execution.Status.choices)
    executionTimeMs = serializers.IntegerField(
        source="execution_time_ms", min_value=0, max_value=MAX_EXECUTION_TIME_MS
    )
    pageUrl = serializers.CharField(
        source="page_url", max_length=2048, required=False, allow_blank=True, validators=[http_url]
    )
    sessionId = serializers.CharField(
        source="session_id", max_length=128, required=False, allow_blank=True
    )
    deviceType = serializers.ChoiceField(
        source="device_type",
        choices=[c for c in Execution.DeviceType.choices if c[0]],
        required=False,
        allow_blank=True,
    )
    triggerName = serializers.CharField(
        source="trigger_name", max_length=200, required=False, allow_blank=True
    )
    executionId = serializers.CharField(
        source="client_execution_id", max_length=64, required=False, validators=[client_id]
    )
    startedAt = serializers.DateTimeField(source="started_at", required=False)
    actions = serializers.ListField(
        child=ActionSerializer(), required=False, max_length=MAX_ACTIONS
    )

    def validate_startedAt(self, value):
        now = timezone.now()
        if value > now + timedelta(seconds=settings.TRACKING_MAX_CLOCK_SKEW_SECONDS):
            raise serializers.ValidationError("Must not be in the future.")
        if value < now - timedelta(seconds=settings.TRACKING_MAX_DELAY_SECONDS):
            raise serializers.ValidationError(
                f"Must be within the last {settings.TRACKING_MAX_DELAY_SECONDS} seconds."
            )
        return value


class ObjectField(serializers.DictField):
    """A JSON object, taken as it is: a DictField would also check each of its values."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        return data


class TrackExecutionBatchSerializer(serializers.Serializer):
    """Only the envelope: each item is validated on its own so one bad item spoils no other."""

    executions = serializers.ListField(child=ObjectField(), min_length=1, max_length=MAX_BATCH)


class TrackExecutionResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    executionId = serializers.CharField()
    message = serializers.CharField()


class TrackExecutionErrorSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=False)
    # Field name -> messages; for actions, item index -> field -> messages.
    errors = serializers.DictField(child=serializers.JSONField())


class ExecutionSerializer(serializers.ModelSerializer):
    """An execution in the REST API's history."""

    executionId = serializers.CharField(source="execution_id", read_only=True)
    executionTimeMs = serializers.IntegerField(source="execution_time_ms")
    pageUrl = serializers.CharField(source="page_url")
    sessionId = serializers.CharField(source="session_id")
    deviceType = serializers.CharField(source="device_type")
    triggerName = serializers.CharField(source="trigger_name")
    userId = serializers.CharField(source="client_user_id")
    executedAt = serializers.DateTimeField(source="executed_at")
    actions = serializers.SerializerMethodField()

    class Meta:
        model = Execution
        fields = [
            "executionId",
            "status",
            "executionTimeMs",
            "pageUrl",
            "sessionId",
            "deviceType",
            "triggerName",
            "userId",
            "executedAt",
            "actions",
        ]
        read_only_fields = fields

    def get_actions(self, execution: Execution) -> list[dict[str, Any]]:
        return [
            {"selector": event.element_selector, **event.event_data}
            for event in execution.events.all()
        ]
