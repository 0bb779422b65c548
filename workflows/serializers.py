from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import serializers

from workflows.models import Site, SiteOrigin, Workflow, normalize_origin


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


class PlaybookConfigSerializer(serializers.ModelSerializer):
    """A playbook as the site script runs it."""

    id = serializers.UUIDField(source="public_id")
    triggerMatch = serializers.ChoiceField(
        source="trigger_match", choices=Workflow.TriggerMatch.choices
    )

    class Meta:
        model = Workflow
        fields = ["id", "name", "triggerMatch", "triggers", "actions"]
        read_only_fields = fields


class SiteConfigSerializer(serializers.Serializer):
    """What the site script loads for a site: its active playbooks, and the rules it runs them
    and reports them by."""

    workflows = PlaybookConfigSerializer(many=True)
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
