from django.contrib import admin

from analytics.models import AnalyticsEvent, Conversion, Execution, Exposure, NotCounted


class AnalyticsEventInline(admin.TabularInline):
    model = AnalyticsEvent
    extra = 0
    can_delete = False
    fields = ["event_type", "element_selector", "event_data", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = [
        "execution_id",
        "workflow",
        "owner",
        "status",
        "execution_time_ms",
        "device_type",
        "page_url",
        "executed_at",
    ]
    list_select_related = ["workflow", "owner"]
    list_filter = ["status", "device_type"]
    search_fields = ["workflow__name", "page_url", "client_execution_id", "session_id"]
    date_hierarchy = "executed_at"
    raw_id_fields = ["workflow", "owner"]
    inlines = [AnalyticsEventInline]
    # Executions are what happened: the admin shows them, it does not rewrite them.
    readonly_fields = [field.name for field in Execution._meta.fields] + ["execution_id"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AnalyticsEvent)
class AnalyticsEventAdmin(admin.ModelAdmin):
    list_display = ["event_type", "element_selector", "workflow", "execution", "created_at"]
    list_select_related = ["workflow", "execution"]
    list_filter = ["event_type"]
    search_fields = ["element_selector", "workflow__name"]
    date_hierarchy = "created_at"
    raw_id_fields = ["workflow", "execution"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """What happened, as recorded: shown, never rewritten."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversion)
class ConversionAdmin(ReadOnlyAdmin):
    list_display = ["goal", "owner", "visitor_id", "day", "converted_at"]
    list_select_related = ["goal", "owner"]
    search_fields = ["goal__name", "visitor_id"]
    date_hierarchy = "converted_at"
    raw_id_fields = ["goal", "owner"]


@admin.register(Exposure)
class ExposureAdmin(ReadOnlyAdmin):
    list_display = ["workflow", "owner", "visitor_id", "held_out", "exposed_at"]
    list_select_related = ["workflow", "owner"]
    list_filter = ["held_out"]
    search_fields = ["workflow__name", "visitor_id"]
    raw_id_fields = ["workflow", "owner"]


@admin.register(NotCounted)
class NotCountedAdmin(ReadOnlyAdmin):
    list_display = ["day", "reason", "owner", "executions", "conversions"]
    list_select_related = ["owner"]
    search_fields = ["reason"]
