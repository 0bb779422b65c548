"""The marketer's dashboards. Every page reads through the signed-in user's scoped querysets;
polled fragments answer 204 (nothing to swap) while nothing new was recorded."""

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import tzinfo
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from analytics import queries
from analytics.charts import daily_chart, shares
from analytics.forms import HistoryFilterForm, RangeForm
from analytics.models import Execution
from workflows.models import Workflow
from workflows.shortcuts import get_workflow_for_user

FEED_SIZE = 10
HISTORY_PAGE = 25
CSV_COLUMNS = [
    "executionId",
    "playbook",
    "executedAt",
    "status",
    "executionTimeMs",
    "deviceType",
    "triggerName",
    "pageUrl",
    "sessionId",
    "userId",
]


@dataclass(frozen=True)
class Dashboard:
    """What every dashboard page starts from: the version of the data it shows, the user's
    time zone, and the period chosen (or the page's default)."""

    version: str
    tz: tzinfo
    range_form: RangeForm
    period: queries.Period


def _dashboard(request: HttpRequest, playbooks, default_range: str) -> Dashboard | None:
    """The page's Dashboard, or None for a poll that finds the data unchanged (answer 204)."""
    version = queries.dashboard_version(playbooks)
    if request.htmx and request.GET.get("v") == version:
        return None
    tz = timezone.get_current_timezone()
    range_form = RangeForm.for_request(request.GET, default=default_range)
    return Dashboard(version, tz, range_form, range_form.period(tz))


def _poll_urls(request: HttpRequest, version: str, parts: tuple[str, ...]) -> dict[str, str]:
    """The URL each live fragment polls: its part and the version it shows."""
    urls = {}
    for part in parts:
        params = request.GET.copy()
        params.update({"v": version, "part": part})
        urls[part] = f"{request.path}?{params.urlencode()}"
    return urls


def _page(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    """The whole page, or for htmx the one fragment it asked for; 400 when a filter in the
    address is invalid (the page then shows the default and says what was wrong)."""
    parts = tuple(context["poll_urls"])
    part = request.GET.get("part")
    forms = [context.get("range_form"), context.get("history_form")]
    status = 400 if any(form is not None and form.errors for form in forms) else 200
    if request.htmx:
        template = f"{template}#{part if part in parts else parts[0]}"
    return render(request, template, context, status=status)


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    workflows = Workflow.objects.for_user(request.user)
    page = _dashboard(request, workflows, default_range="7d")
    if page is None:
        return HttpResponse(status=204)
    tz, period = page.tz, page.period
    rollups = queries.Rollups.for_user(request.user)
    now = timezone.localtime(timezone=tz)
    month = RangeForm({"range": "30d"}).period(tz)
    executions = Execution.objects.for_user(request.user)
    rows = queries.playbook_rows(workflows, rollups, period)
    # The counts, the month's totals and the chart from one read of each rollup.
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    sums = rollups.totals(
        {
            "today": queries.Span.of(midnight, now),
            "week": RangeForm({"range": "7d"}).period(tz).span,
            "month": month.span,
            **queries.day_spans(month, tz),
        }
    )
    context = {
        "range_form": page.range_form,
        "period": period,
        "counts": {name: sums[name].executions for name in ("today", "week", "month")},
        "month_totals": sums["month"],
        "timing": queries.recent_timing(executions.filter(executed_at__gte=month.start)),
        "active_playbooks": workflows.active().count(),
        "chart": daily_chart(queries.day_counts(sums, month, tz)),
        "top": queries.ranked_playbooks(rows),
        "feed": executions.select_related("workflow").order_by("-executed_at", "-pk")[:FEED_SIZE],
        "poll_urls": _poll_urls(request, page.version, ("live",)),
    }
    return _page(request, "analytics/overview.html", context)


@login_required
@require_GET
def playbook_list(request: HttpRequest) -> HttpResponse:
    workflows = Workflow.objects.for_user(request.user).select_related("site")
    page = _dashboard(request, workflows, default_range="30d")
    if page is None:
        return HttpResponse(status=204)
    search = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    if search:
        workflows = workflows.filter(name__icontains=search)
    sort = request.GET.get("sort", "name")
    rows = queries.playbook_rows(workflows, queries.Rollups.for_user(request.user), page.period)
    rows.sort(key=PLAYBOOK_SORTS.get(sort, PLAYBOOK_SORTS["name"]))
    context = {
        "rows": rows,
        "search": search,
        "sort": sort,
        "sorts": {key: urlencode({"q": search, "sort": key}) for key in PLAYBOOK_SORTS},
        "poll_urls": _poll_urls(request, page.version, ("rows",)),
    }
    return _page(request, "analytics/playbook_list.html", context)


PLAYBOOK_SORTS = {
    "name": lambda row: row.workflow.name.lower(),
    "executions": lambda row: -row.workflow.executions,
    "last_run": lambda row: -(row.workflow.last_run.timestamp() if row.workflow.last_run else 0),
    "success": lambda row: (row.totals.success_rate is None, row.totals.success_rate or 0),
    "time": lambda row: (row.totals.average_ms is None, row.totals.average_ms or 0),
}


@login_required
@require_GET
def playbook_detail(request: HttpRequest, public_id) -> HttpResponse:
    workflow = get_workflow_for_user(request.user, public_id)
    page = _dashboard(request, Workflow.objects.filter(pk=workflow.pk), default_range="30d")
    if page is None:
        return HttpResponse(status=204)
    tz, period = page.tz, page.period
    rollups = queries.Rollups.for_user(request.user).of_playbook(workflow)
    sums = rollups.totals({"period": period.span, **queries.day_spans(period, tz)})
    totals = sums["period"]
    history_form = HistoryFilterForm(request.GET)
    history = queries.filter_executions(
        Execution.objects.filter(workflow=workflow), history_form.filters(tz)
    )
    context = {
        "workflow": workflow,
        "range_form": page.range_form,
        "period": period,
        "totals": totals,
        "chart": daily_chart(queries.day_counts(sums, period, tz)),
        "devices": shares(queries.device_breakdown(totals)),
        "triggers": shares(queries.trigger_breakdown(workflow)),
        "timing": queries.recent_timing(Execution.objects.filter(workflow=workflow)),
        "actions": queries.action_performance(workflow),
        "history_form": history_form,
        "csv_url": _csv_url(request, "analytics:playbook-csv", workflow=workflow),
        **_history_page(history, history_form, request),
        "poll_urls": _poll_urls(request, page.version, ("live", "history")),
    }
    return _page(request, "analytics/playbook_detail.html", context)


@login_required
@require_GET
def explore(request: HttpRequest) -> HttpResponse:
    workflows = Workflow.objects.for_user(request.user)
    page = _dashboard(request, workflows, default_range="7d")
    if page is None:
        return HttpResponse(status=204)
    tz, period = page.tz, page.period
    rollups = queries.Rollups.for_user(request.user)
    executions = Execution.objects.for_user(request.user)
    history_form = HistoryFilterForm(request.GET)
    history = queries.filter_executions(
        executions.select_related("workflow"), history_form.filters(tz)
    )
    rows = queries.playbook_rows(workflows, rollups, period)
    # The page's totals are the playbooks' added up; the chart and the previous period come
    # from one more read of each rollup.
    totals = queries.combined(rows)
    sums = rollups.totals({"previous": period.previous.span, **queries.day_spans(period, tz)})
    in_period = executions.filter(executed_at__gte=period.start, executed_at__lt=period.end)
    context = {
        "range_form": page.range_form,
        "period": period,
        "totals": totals,
        "change": queries.compare(totals, sums["previous"]),
        "timing": queries.recent_timing(in_period),
        "chart": daily_chart(queries.day_counts(sums, period, tz)),
        "devices": shares(queries.device_breakdown(totals)),
        "top": queries.ranked_playbooks(rows),
        "worst": queries.ranked_playbooks(rows, worst=True),
        "history_form": history_form,
        "csv_url": _csv_url(request, "analytics:explore-csv"),
        **_history_page(history, history_form, request),
        "poll_urls": _poll_urls(request, page.version, ("live", "history")),
    }
    return _page(request, "analytics/explore.html", context)


def _history_page(history, form: HistoryFilterForm, request: HttpRequest) -> dict:
    """One page of history without counting every row: one more row tells if there is a next."""
    number = (form.cleaned_data.get("page") if form.is_valid() else None) or 1
    offset = (number - 1) * HISTORY_PAGE
    rows = list(history[offset : offset + HISTORY_PAGE + 1])

    def link(page: int) -> str:
        params = request.GET.copy()
        for key in ("v", "part"):
            params.pop(key, None)
        params["page"] = page
        return f"?{params.urlencode()}"

    return {
        "history": rows[:HISTORY_PAGE],
        "page_number": number,
        "previous_page": link(number - 1) if number > 1 else None,
        "next_page": link(number + 1) if len(rows) > HISTORY_PAGE else None,
    }


def _csv_url(request: HttpRequest, name: str, workflow: Workflow | None = None) -> str:
    args = [workflow.public_id] if workflow else []
    params = request.GET.copy()
    for key in ("v", "part", "page", "range"):
        params.pop(key, None)
    return f"{reverse(name, args=args)}?{params.urlencode()}"


@login_required
@require_GET
def playbook_csv(request: HttpRequest, public_id) -> StreamingHttpResponse:
    workflow = get_workflow_for_user(request.user, public_id)
    executions = Execution.objects.filter(workflow=workflow).select_related("workflow")
    return _csv_response(request, executions, f"{workflow.name}-executions.csv")


@login_required
@require_GET
def explore_csv(request: HttpRequest) -> StreamingHttpResponse:
    executions = Execution.objects.for_user(request.user).select_related("workflow")
    return _csv_response(request, executions, "executions.csv")


def _csv_response(request: HttpRequest, executions, filename: str) -> HttpResponse:
    tz = timezone.get_current_timezone()
    form = HistoryFilterForm(request.GET)
    if form.errors:
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponse(problems, status=400, content_type="text/plain; charset=utf-8")
    rows = queries.filter_executions(executions, form.filters(tz)).iterator(chunk_size=2000)
    safe_name = "".join(c if c.isalnum() or c in "-_." else "-" for c in filename)
    response = StreamingHttpResponse(_csv_lines(rows, tz), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{safe_name}"'
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterator[Execution], tz) -> Iterator[str]:
    # Every cell quoted, so that no separator inside one splits it.
    writer = csv.writer(_Echo(), quoting=csv.QUOTE_ALL)
    yield writer.writerow(CSV_COLUMNS)
    for execution in rows:
        yield writer.writerow(
            _defuse(value)
            for value in [
                execution.execution_id,
                execution.workflow.name,
                execution.executed_at.astimezone(tz).isoformat(),
                execution.status,
                execution.execution_time_ms,
                execution.device_type,
                execution.trigger_name,
                execution.page_url,
                execution.session_id,
                execution.client_user_id,
            ]
        )


# A part of a cell that a spreadsheet could read as a formula: = + - @ at its start, or after a
# separator some spreadsheet splits on (a comma, a semicolon, a tab, a line break).
FORMULA_START = re.compile(r"(^|[,;\t\r\n])(\s*)(?=[=+\-@])")


def _defuse(value):
    if isinstance(value, str):
        return FORMULA_START.sub(r"\1\2'", value)
    return value
