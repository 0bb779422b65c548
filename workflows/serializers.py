from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import serializers

from workflows.models import Goal, Site, SiteOrigin, Workflow, normalize_origin


class OriginField(serializers.CharField):
    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        try:
            return normalize_origin(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class SiteSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    siteKey = serializers.CharField(source="site_key", read_only=True)
    allowedOrigins = serializers.ListField(
        child=OriginField(max_length=255), required=False, max_length=50
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Site
        fields = ["id", "name", "siteKey", "allowedOrigins", "createdAt"]

    def to_representation(self, site: Site) -> dict:
        data = super().to_representation(site)
        data["allowedOrigins"] = [origin.origin for origin in site.origins.all()]
        return data

    @transaction.atomic
    def create(self, validated_data: dict) -> Site:
        origins = validated_data.pop("allowedOrigins", [])
        site = Site.objects.create(**validated_data)
        self._set_origins(site, origins)
        return site

    @transaction.atomic
    def update(self, site: Site, validated_data: dict) -> Site:
        origins = validated_data.pop("allowedOrigins", None)
        site = super().update(site, validated_data)
        if origins is not None:
            site.origins.all().delete()
            self._set_origins(site, origins)
        return site

    def _set_origins(self, site: Site, origins: list[str]) -> None:
        SiteOrigin.objects.bulk_create(
            SiteOrigin(site=site, origin=origin) for origin in dict.fromkeys(origins)
        )


class WorkflowSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    site = serializers.SlugRelatedField(slug_field="public_id", queryset=Site.objects.none())
    triggerMatch = serializers.ChoiceField(
        source="trigger_match", choices=Workflow.TriggerMatch.choices, required=False
    )
    holdoutPercent = serializers.IntegerField(
        source="holdout_percent",
        min_value=0,
        max_value=100,
        required=False,
        help_text="The share of visitors kept from the actions, to measure lift against (0: none).",
    )
    lastRun = serializers.DateTimeField(source="last_run", read_only=True, allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Workflow
        fields = [
            "id",
            "name",
            "site",
            "status",
            "triggerMatch",
            "triggers",
            "actions",
            "holdoutPercent",
            "executions",
            "lastRun",
            "createdAt",
            "updatedAt",
        ]
        read_only_fields = ["executions"]
        extra_kwargs = {"actions": {"required": True}}

    def get_fields(self) -> dict:
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:
            # Only the requesting user's sites can be chosen.
            fields["site"].queryset = Site.objects.for_user(request.user)
        return fields


class GoalSerializer(serializers.ModelSerializer):
    """A goal in the REST API: the fields its kind does not use are blank."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    site = serializers.SlugRelatedField(slug_field="public_id", queryset=Site.objects.none())
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Goal
        fields = ["id", "name", "site", "kind", "selector", "match", "path", "event", "createdAt"]

    def get_fields(self) -> dict:
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:
            fields["site"].queryset = Site.objects.for_user(request.user)
        return fields

    def validate(self, data: dict) -> dict:
        """The model's own checks (what each kind needs, the selector), as the form runs them."""
        goal = Goal(**{**self._current(), **data})
        if self.context.get("request") is not None:
            goal.owner = self.context["request"].user
        try:
            goal.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return {
            **data,
            **{name: getattr(goal, name) for name in ("selector", "match", "path", "event")},
        }

    def _current(self) -> dict:
        if self.instance is None:
            return {}
        names = ("name", "site", "kind", "selector", "match", "path", "event")
        return {name: getattr(self.instance, name) for name in names}


class PlaybookConfigSerializer(serializers.ModelSerializer):
    """A playbook as the site script runs it."""

    id = serializers.UUIDField(source="public_id")
    triggerMatch = serializers.ChoiceField(
        source="trigger_match", choices=Workflow.TriggerMatch.choices
    )
    holdoutPercent = serializers.IntegerField(source="holdout_percent")

    class Meta:
        model = Workflow
        fields = ["id", "name", "triggerMatch", "triggers", "actions", "holdoutPercent"]
        read_only_fields = fields


class GoalConfigSerializer(serializers.ModelSerializer):
    """A goal as the site script watches for it."""

    id = serializers.UUIDField(source="public_id")

    class Meta:
        model = Goal
        fields = ["id", "name", "kind", "selector", "match", "path", "event"]
        read_only_fields = fields


class SiteConfigSerializer(serializers.Serializer):
    """What the site script loads for a site: its active playbooks, and the rules it runs them
    and reports them by."""

    workflows = PlaybookConfigSerializer(many=True)
    goals = GoalConfigSerializer(many=True)
    triggerNames = serializers.DictField(
        child=serializers.CharField(), help_text="What `triggerName` says for each trigger type."
    )
    actionNames = serializers.DictField(
        child=serializers.CharField(), help_text="What an action's `name` says for each type."
    )
    settableAttributes = serializers.ListField(
        child=serializers.CharField(), help_text="The only attributes `set_attribute` may set."
    )
    maxBatch = serializers.IntegerField(help_text="Executions in one tracking request.")
    maxDelaySeconds = serializers.IntegerField(
        help_text="How late an execution may be delivered (its `startedAt`)."
    )
