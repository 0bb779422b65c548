from datetime import timedelta
from typing import Any

import msgspec
from django.conf import settings
from django.core.validators import RegexValidator, URLValidator
from django.utils import timezone
from rest_framework import serializers

from analytics.lift import MIN_CONVERTERS, MIN_VISITORS
from analytics.models import MAX_EXECUTION_TIME_MS, VISITOR_ID_MAX, Execution
from workflows.definitions import MAX_ACTIONS, MAX_BATCH

MAX_CONFIG_BYTES = 4096
MAX_CONFIG_DEPTH = 8

http_url = URLValidator(schemes=["http", "https"], message="Enter an http(s) URL.")
client_id = RegexValidator(
    r"^[A-Za-z0-9_.:\-]+$", "Use only letters, digits and _ . : - (at most 64)."
)
HELD_OUT_APPLIES_NOTHING = "A held-out run applies no actions."
HELD_OUT_NEEDS_A_VISITOR = "A held-out run needs the visitorId it was decided for."


class PublicIdField(serializers.UUIDField):
    """A playbook's or goal's id as text: DRF's UUIDField would also turn the number 42 into a
    UUID."""

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

    workflowId = PublicIdField(source="workflow_id")
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
    # The visitor's random first-party id, and whether they are in the playbook's holdout
    # group: then this is the run they would have had, with nothing applied.
    visitorId = serializers.CharField(
        source="visitor_id", max_length=VISITOR_ID_MAX, required=False, validators=[client_id]
    )
    heldOut = serializers.BooleanField(source="held_out", required=False)

    def validate_startedAt(self, value):
        return recent(value)


def recent(moment):
    """`moment` when the tracker still takes what happened then: not in the future (beyond
    the clock skew allowed) nor older than the maximum delay."""
    now = timezone.now()
    if moment > now + timedelta(seconds=settings.TRACKING_MAX_CLOCK_SKEW_SECONDS):
        raise serializers.ValidationError("Must not be in the future.")
    if moment < now - timedelta(seconds=settings.TRACKING_MAX_DELAY_SECONDS):
        raise serializers.ValidationError(
            f"Must be within the last {settings.TRACKING_MAX_DELAY_SECONDS} seconds."
        )
    return moment


def check_held_out(fields: dict[str, Any]) -> dict[str, Any]:
    """A validated execution, refused when it says it was held out yet applied actions, or
    without the visitor it was held out for (each field alone cannot tell)."""
    if fields.get("held_out"):
        if fields.get("actions"):
            raise serializers.ValidationError({"actions": [HELD_OUT_APPLIES_NOTHING]})
        if not fields.get("visitor_id"):
            raise serializers.ValidationError({"visitorId": [HELD_OUT_NEEDS_A_VISITOR]})
    return fields


class TrackConversionSerializer(serializers.Serializer):
    """A visitor reaching a goal, as the site script reports it."""

    goalId = PublicIdField(source="goal_id")
    visitorId = serializers.CharField(
        source="visitor_id", max_length=VISITOR_ID_MAX, validators=[client_id]
    )
    # The site script's own id for this conversion, to tell its queue's items apart.
    conversionId = serializers.CharField(
        source="client_conversion_id", max_length=64, required=False, validators=[client_id]
    )
    occurredAt = serializers.DateTimeField(source="occurred_at", required=False)
    pageUrl = serializers.CharField(
        source="page_url", max_length=2048, required=False, allow_blank=True, validators=[http_url]
    )

    def validate_occurredAt(self, value):
        return recent(value)


class ObjectField(serializers.DictField):
    """A JSON object, taken as it is: a DictField would also check each of its values."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        return data


class TrackExecutionBatchSerializer(serializers.Serializer):
    """Only the envelope: each item is validated on its own so one bad item spoils no other."""

    executions = serializers.ListField(child=ObjectField(), min_length=1, max_length=MAX_BATCH)


class TrackConversionBatchSerializer(serializers.Serializer):
    conversions = serializers.ListField(child=ObjectField(), min_length=1, max_length=MAX_BATCH)


class TrackExecutionResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    # None for a held-out run (no execution is stored) and for a post not counted.
    executionId = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    counted = serializers.BooleanField(required=False, help_text="False for a known bot.")


class TrackConversionResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    conversionId = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    counted = serializers.BooleanField(required=False, help_text="False for a known bot.")


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


class LiftSerializer(serializers.Serializer):
    """A playbook's lift on one goal: its exposed visitors against its held-out ones."""

    playbook = serializers.UUIDField(source="workflow.public_id")
    playbookName = serializers.CharField(source="workflow.name")
    goal = serializers.UUIDField(source="goal.public_id")
    goalName = serializers.CharField(source="goal.name")
    exposedVisitors = serializers.IntegerField(source="lift.exposed_visitors")
    exposedConverters = serializers.IntegerField(source="lift.exposed_converters")
    exposedRate = serializers.FloatField(source="lift.exposed_rate", allow_null=True)
    heldOutVisitors = serializers.IntegerField(source="lift.held_out_visitors")
    heldOutConverters = serializers.IntegerField(source="lift.held_out_converters")
    heldOutRate = serializers.FloatField(source="lift.held_out_rate", allow_null=True)
    enoughData = serializers.BooleanField(source="lift.enough")
    lift = serializers.FloatField(
        source="lift.lift", allow_null=True, help_text="Relative: 0.12 is 12% more conversions."
    )
    low = serializers.FloatField(source="lift.low", allow_null=True, help_text="95% interval.")
    high = serializers.FloatField(source="lift.high", allow_null=True)
    pValue = serializers.FloatField(source="lift.p_value", allow_null=True, help_text="Two-sided.")
    significant = serializers.BooleanField(source="lift.significant")
    message = serializers.SerializerMethodField()

    def get_message(self, item) -> str:
        if item.lift.enough:
            return "Significant at 95%." if item.lift.significant else "No clear difference yet."
        return (
            f"Not enough data yet: each group needs {MIN_VISITORS} visitors and "
            f"{MIN_CONVERTERS} conversions."
        )
