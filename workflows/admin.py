from django.contrib import admin

from workflows.models import Goal, Site, SiteOrigin, Workflow


class SiteOriginInline(admin.TabularInline):
    model = SiteOrigin
    extra = 1


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "masked_key", "created_at"]
    list_select_related = ["owner"]
    search_fields = ["name", "owner__username", "origins__origin"]
    readonly_fields = ["public_id", "site_key", "created_at"]
    inlines = [SiteOriginInline]

    @admin.display(description="Site key")
    def masked_key(self, site: Site) -> str:
        return site.masked_key


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "site", "status", "executions", "last_run", "updated_at"]
    list_select_related = ["owner", "site"]
    list_filter = ["status", "trigger_match"]
    search_fields = ["name", "owner__username", "site__name"]
    readonly_fields = [
        "public_id",
        "executions",
        "last_run",
        "exposed_visitors",
        "held_out_visitors",
        "created_at",
        "updated_at",
    ]
    date_hierarchy = "last_run"


@admin.register(Goal)
class GoalAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "site", "kind", "created_at"]
    list_select_related = ["owner", "site"]
    list_filter = ["kind"]
    search_fields = ["name", "owner__username", "site__name"]
    readonly_fields = ["public_id", "created_at"]
