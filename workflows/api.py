import hashlib
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import quote_etag
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from workflows.cors import SiteScriptView, preflight_response, request_origin
from workflows.definitions import ACTION_LABELS, MAX_BATCH, SETTABLE_ATTRIBUTES, TRIGGER_LABELS
from workflows.models import Goal, Site, Workflow
from workflows.serializers import (
    GoalSerializer,
    SiteConfigSerializer,
    SiteSerializer,
    WorkflowSerializer,
)

CONFIG_MAX_AGE = 60


class SiteViewSet(viewsets.ModelViewSet):
    serializer_class = SiteSerializer
    lookup_field = "public_id"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        return Site.objects.for_user(self.request.user).prefetch_related("origins")

    def perform_create(self, serializer: SiteSerializer) -> None:
        serializer.save(owner=self.request.user)


class WorkflowViewSet(viewsets.ModelViewSet):
    serializer_class = WorkflowSerializer
    lookup_field = "public_id"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        return Workflow.objects.for_user(self.request.user).select_related("site")

    def perform_create(self, serializer: WorkflowSerializer) -> None:
        serializer.save(owner=self.request.user)


class GoalViewSet(viewsets.ModelViewSet):
    serializer_class = GoalSerializer
    lookup_field = "public_id"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        return Goal.objects.for_user(self.request.user).select_related("site")

    def perform_create(self, serializer: GoalSerializer) -> None:
        serializer.save(owner=self.request.user)


class SiteConfigView(SiteScriptView):
    """A site's active playbooks and the rules the site script runs them by: public, and
    cacheable for a minute (shared caches keep one copy per page origin)."""

    authentication_classes = []
    permission_classes = []
    renderer_classes = [JSONRenderer]

    def options(self, request: Request, *args, **kwargs) -> HttpResponse:
        return preflight_response(request, methods="GET", headers="Content-Type")

    @extend_schema(operation_id="site_config", responses={200: SiteConfigSerializer})
    def get(self, request: Request, site_key: str) -> HttpResponse:
        self.site_key, origin = site_key, request_origin(request)
        site = Site.objects.by_key(site_key, origin)
        if site is None or not site.owner.is_active:
            raise exceptions.NotFound("Unknown site key.")
        if site.origin_allowed:
            self.allowed_origin = origin
        body = JSONRenderer().render(SiteConfigSerializer(site_config(site)).data)
        etag = quote_etag(hashlib.sha256(body).hexdigest()[:32])
        response = get_conditional_response(request, etag=etag) or HttpResponse(
            body, content_type="application/json"
        )
        response["ETag"] = etag
        patch_cache_control(response, public=True, max_age=CONFIG_MAX_AGE)
        return response


def site_config(site: Site) -> dict[str, Any]:
    return {
        "workflows": Workflow.objects.filter(site=site).active().order_by("pk"),
        "goals": Goal.objects.filter(site=site).order_by("pk"),
        "triggerNames": TRIGGER_LABELS,
        "actionNames": ACTION_LABELS,
        "settableAttributes": SETTABLE_ATTRIBUTES,
        "maxBatch": MAX_BATCH,
        "maxDelaySeconds": settings.TRACKING_MAX_DELAY_SECONDS,
    }
