from rest_framework import viewsets

from workflows.models import Site, Workflow
from workflows.serializers import SiteSerializer, WorkflowSerializer


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
