"""The marketer's dashboards. Every page reads through the signed-in user's scoped querysets and
shows one period, chosen in its address, which drives every figure on it; polled fragments
answer 204 (nothing to swap) while nothing new was recorded."""

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, timedelta, tzinfo

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from analytics import lift, outcomes, queries
from analytics.charts import Share, bar_chart, shares
from analytics.forms import PRESETS, HistoryFilterForm, PeriodForm
from analytics.models import Execution
from workflows.definitions import describe
from workflows.models import Workflow
from workflows.shortcuts import get_workflow_for_user

FEED_SIZE = 10
HISTORY_PAGE = 25
CSV_COLUMNS = [
    "executionId", "playbook", "executedAt", "status", "executionTimeMs", "deviceType",
    "triggerName", "pageUrl", "sessionId", "userId", "error", "failedSelectors",
]  # fmt: skip
# Address parameters that belong to one request, not to what the page shows.
TRANSIENT = ("v", "part", "page")


@dataclass(frozen=True)
class Dashboard:
    """What every dashboard page starts from: the version of the data it shows, the user's
    time zone, and the one period the page shows (from its address, or the page's default)."""

    version: str
    tz: tzinfo
    period_form: PeriodForm
    period: queries.Period
    period_links: list[tuple[str, str, bool]]  # (label, address, current)


def _dashboard(request: HttpRequest, playbooks, default_range: str) -> Dashboard | None:
    """The page's Dashboard, or None for a poll that finds the data unchanged (answer 204)."""
    version = queries.dashboard_version(playbooks)
    if request.htmx and request.GET.get("v") == version:
        return None
    tz = timezone.get_current_timezone()
    form = PeriodForm(request.GET, default=default_range)
    links = [
        (short, _link(request, range=key, start=None, end=None), key == form.preset)
        for key, (short, _, _) in PRESETS.items()
    ]
    return Dashboard(version, tz, form, form.period(tz), links)


def _link(request: HttpRequest, **changes: str | None) -> str:
    """This page's address with some parameters set (or removed, for None)."""
    params = request.GET.copy()
    for key in TRANSIENT:
        params.pop(key, None)
    for key, value in changes.items():
        params.pop(key, None)
        if value is not None:
            params[key] = value
    return f"?{params.urlencode()}"


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
    forms = [context.get("period_form"), context.get("history_form")]
    status = 400 if any(form is not None and form.errors for form in forms) else 200
    if request.htmx:
        template = f"{template}#{part if part in parts else parts[0]}"
    return render(request, template, context, status=status)


def _period_context(request: HttpRequest, page: Dashboard) -> dict:
    period_params = ("range", "start", "end", *TRANSIENT)
    return {
        "period": page.period,
        "period_form": page.period_form,
        "period_links": page.period_links,
        "period_query": page.period_form.query(),
        # What the custom days' form keeps of the address (filters, search, sort).
        "period_keep": [(k, v) for k, v in request.GET.items() if k not in period_params],
    }


def _chart(rollups: queries.Rollups, period: queries.Period, tz, **also: queries.Span) -> dict:
    """The period's chart (a bar per hour up to 48 hours, else per day) and its totals, with
    the totals of any other spans named in `also`: one read of each rollup."""
    buckets = period.buckets(tz)
    sums = rollups.totals(
        {"period": period.span, **{bucket: bucket.span for bucket in buckets}, **also}
    )
    per = "hour" if period.hourly else "day"
    return {"chart": bar_chart(queries.bucket_counts(sums, buckets), per), "sums": sums}


@login_required
@require_GET
@queries.planned_for_their_values()
def overview(request: HttpRequest) -> HttpResponse:
    workflows = Workflow.objects.for_user(request.user)
    page = _dashboard(request, workflows, default_range="7d")
    if page is None:
        return HttpResponse(status=204)
    period = page.period
    rollups = queries.Rollups.for_user(request.user)
    drawn = _chart(rollups, period, page.tz)
    in_period = queries.filter_executions(Execution.objects.for_user(request.user), period, {})
    rows = queries.playbook_rows(workflows.only(*queries.RANKED_FIELDS), rollups, period)
    context = {
        **_period_context(request, page),
        "totals": drawn["sums"]["period"],
        "chart": drawn["chart"],
        "timing": queries.recent_timing(in_period),
        "active_playbooks": workflows.active().count(),
        "rankings": queries.rankings(rows, in_period),
        "feed": in_period.select_related("workflow")[:FEED_SIZE],
        "analytics_url": reverse("analytics:explore") + _link(request),
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
    key = request.GET.get("sort", "name")
    if key not in PLAYBOOK_SORTS:
        key = "name"
    order = request.GET.get("order") or _natural_order(key)
    descending = order == "desc"
    rows = queries.playbook_rows(workflows, queries.Rollups.for_user(request.user), page.period)
    rows.sort(key=PLAYBOOK_SORTS[key], reverse=descending)
    context = {
        **_period_context(request, page),
        "rows": rows,
        "search": search,
        "columns": [
            _sort_column(request, name, label, key, descending)
            for name, label in (
                ("name", "Name"),
                ("executions", "Executions, all time"),
                ("last_run", "Last run"),
                ("runs", "Runs"),
                ("success", "Success"),
                ("time", "Average time"),
            )
        ],  # fmt: skip
        "poll_urls": _poll_urls(request, page.version, ("rows",)),
    }
    return _page(request, "analytics/playbook_list.html", context)


PLAYBOOK_SORTS = {
    "name": lambda row: row.workflow.name.lower(),
    "executions": lambda row: row.workflow.executions,
    "last_run": lambda row: row.workflow.last_run.timestamp() if row.workflow.last_run else 0,
    "runs": lambda row: row.totals.executions,
    "success": lambda row: (row.totals.success_rate is not None, row.totals.success_rate or 0),
    "time": lambda row: (row.totals.average_ms is not None, row.totals.average_ms or 0),
}


@dataclass(frozen=True)
class SortColumn:
    label: str
    url: str
    aria_sort: str  # "ascending", "descending" or "none"
    numeric: bool


def _natural_order(key: str) -> str:
    """Names from A, figures from the highest."""
    return "asc" if key == "name" else "desc"


def _sort_column(request, name: str, label: str, key: str, descending: bool) -> SortColumn:
    """A column header that sorts by it (in its natural order), and the other way once sorted
    by it."""
    numeric = name not in ("name", "last_run")
    if name != key:
        return SortColumn(label, _link(request, sort=name, order=None), "none", numeric)
    url = _link(request, sort=name, order="asc" if descending else "desc")
    return SortColumn(label, url, "descending" if descending else "ascending", numeric)


@login_required
@require_GET
@queries.planned_for_their_values()
def playbook_detail(request: HttpRequest, public_id) -> HttpResponse:
    workflow = get_workflow_for_user(request.user, public_id)
    page = _dashboard(request, Workflow.objects.filter(pk=workflow.pk), default_range="30d")
    if page is None:
        return HttpResponse(status=204)
    period = page.period
    rollups = queries.Rollups.for_user(request.user).of_playbook(workflow)
    drawn = _chart(rollups, period, page.tz)
    totals = drawn["sums"]["period"]
    executions = Execution.objects.filter(workflow=workflow)
    in_period = queries.filter_executions(executions, period, {})
    context = {
        **_period_context(request, page),
        "workflow": workflow,
        "description": describe(workflow),
        "sharing": workflow.sharing_selectors(),
        "totals": totals,
        "chart": drawn["chart"],
        "devices": _devices(request, totals),
        **_newest_runs(request, in_period),
        "actions": queries.action_performance(in_period),
        "lift": outcomes.lift_of_playbook(workflow),
        **_lift_minimums(),
        **_history(request, executions, period, totals),
        "csv_url": reverse("analytics:playbook-csv", args=[workflow.public_id]) + _link(request),
        "poll_urls": _poll_urls(request, page.version, ("live", "history")),
    }
    return _page(request, "analytics/playbook_detail.html", context)


@login_required
@require_GET
@queries.planned_for_their_values()
def explore(request: HttpRequest) -> HttpResponse:
    workflows = Workflow.objects.for_user(request.user)
    page = _dashboard(request, workflows, default_range="7d")
    if page is None:
        return HttpResponse(status=204)
    period = page.period
    rollups = queries.Rollups.for_user(request.user)
    executions = Execution.objects.for_user(request.user)
    in_period = queries.filter_executions(executions, period, {})
    rows = queries.playbook_rows(workflows.only(*queries.RANKED_FIELDS), rollups, period)
    drawn = _chart(rollups, period, page.tz, previous=period.previous.span)
    totals = drawn["sums"]["period"]
    context = {
        **_period_context(request, page),
        "totals": totals,
        "change": queries.compare(totals, drawn["sums"]["previous"]),
        **_newest_runs(request, in_period),
        "chart": drawn["chart"],
        "devices": _devices(request, totals),
        "rankings": queries.rankings(rows, in_period),
        "worst_min_runs": queries.WORST_MIN_RUNS,
        "not_counted": outcomes.not_counted(request.user, period.start.astimezone(UTC).date()),
        **_history(request, executions.select_related("workflow"), period, totals),
        "csv_url": reverse("analytics:explore-csv") + _link(request),
        "poll_urls": _poll_urls(request, page.version, ("live", "history")),
    }
    return _page(request, "analytics/explore.html", context)


# Goals' conversions are shown over this many days (and in all); the ranking by lift shows
# this many playbook and goal pairs, the API all of them.
GOAL_DAYS = 30
LIFT_ROWS = 50


@login_required
@require_GET
def goal_list(request: HttpRequest) -> HttpResponse:
    """The user's goals and their conversions, the playbooks ranked by lift on them, and what
    known bots sent that was not counted."""
    since = (timezone.now() - timedelta(days=GOAL_DAYS - 1)).astimezone(UTC).date()
    ranking = outcomes.lift_ranking(request.user)
    context = {
        "goals": outcomes.goals_with_conversions(request.user, since),
        "ranking": ranking[:LIFT_ROWS],
        "ranked": len(ranking),
        "not_counted": outcomes.not_counted(request.user, since),
        "goal_days": GOAL_DAYS,
        **_lift_minimums(),
    }
    return render(request, "analytics/goal_list.html", context)


def _lift_minimums() -> dict:
    return {"min_visitors": lift.MIN_VISITORS, "min_converters": lift.MIN_CONVERTERS}


@dataclass(frozen=True)
class Narrowing:
    label: str
    value: str
    remove_url: str


def _history(request: HttpRequest, executions, period: queries.Period, totals) -> dict:
    """One page of the period's history, filtered, without counting every row (one more row
    tells if there is a next), and the filters in force. `totals` are the period's."""
    form = HistoryFilterForm(request.GET)
    filters = form.filters()
    history = queries.filter_executions(executions, period, filters)
    number = filters.get("page") or 1
    offset = (number - 1) * HISTORY_PAGE
    found = queries.may_match(totals, filters)
    rows = list(history[offset : offset + HISTORY_PAGE + 1]) if found else []

    def link(page: int) -> str:
        return _link(request, page=str(page)) + "#history"

    labels = {name: form.fields[name].label or name for name in form.NARROWING}
    labels.update({name: label for name, (label, _) in queries.BREAKDOWNS.items()})
    return {
        "history_form": form,
        "narrowing": [
            Narrowing(labels[name], filters[name], _link(request, **{name: None}) + "#history")
            for name in form.NARROWING
            if filters.get(name)
        ],
        "history": rows[:HISTORY_PAGE],
        "page_number": number,
        "previous_page": link(number - 1) if number > 1 else None,
        "next_page": link(number + 1) if len(rows) > HISTORY_PAGE else None,
        "narrowed_by_breakdown": queries.narrowed_by_breakdown(filters),
    }


def _narrowing(request: HttpRequest, name: str, value: str) -> str:
    """The history, narrowed to `value` of `name`."""
    return _link(request, **{name: value}) + "#history"


def _newest_runs(request: HttpRequest, in_period) -> dict:
    """The timing of the period's newest runs, and their breakdowns, each item a link that
    narrows the history to it."""
    newest = queries.newest_runs(in_period)
    breakdowns = [
        (
            breakdown,
            [
                replace(share, url=_narrowing(request, breakdown.name, share.label))
                for share in shares(breakdown.items)
            ],
        )
        for breakdown in newest.breakdowns
    ]
    return {"timing": newest.timing, "breakdowns": breakdowns}


def _devices(request: HttpRequest, totals: queries.Totals) -> list[Share]:
    """The period's devices, exact (from the rollups); runs of no known device cannot be
    narrowed to."""
    return [
        share
        if share.label == "Unknown"
        else replace(share, url=_narrowing(request, "device", share.label.lower()))
        for share in shares(queries.device_breakdown(totals))
    ]


@login_required
@require_GET
def execution_detail(request: HttpRequest, execution_id: str) -> HttpResponse:
    """One execution, each action with its selector, time and error."""
    public_id = execution_id.removeprefix("exec-")
    if not re.fullmatch(r"[0-9a-f]{32}", public_id):
        raise Http404("No such execution.")
    executions = Execution.objects.for_user(request.user).select_related("workflow")
    execution = get_object_or_404(executions.prefetch_related("events"), public_id=public_id)
    return render(request, "analytics/execution_detail.html", {"execution": execution})


@login_required
@require_GET
def playbook_csv(request: HttpRequest, public_id) -> HttpResponse:
    workflow = get_workflow_for_user(request.user, public_id)
    executions = Execution.objects.filter(workflow=workflow)
    return _csv_response(request, executions, f"{workflow.name}-executions.csv")


@login_required
@require_GET
def explore_csv(request: HttpRequest) -> HttpResponse:
    executions = Execution.objects.for_user(request.user)
    return _csv_response(request, executions, "executions.csv")


def _csv_response(request: HttpRequest, executions, filename: str) -> HttpResponse:
    """The period's executions, as the history shows them filtered, with their errors; times in
    the user's time zone, ISO 8601, to the second."""
    tz = timezone.get_current_timezone()
    period_form = PeriodForm(request.GET, default="30d")
    form = HistoryFilterForm(request.GET)
    errors = {**period_form.errors, **form.errors}
    if errors:
        problems = "; ".join(f"{name}: {' '.join(text)}" for name, text in errors.items())
        return HttpResponse(problems, status=400, content_type="text/plain; charset=utf-8")
    period = period_form.period(tz)
    rows = (
        queries.filter_executions(executions, period, form.filters())
        .select_related("workflow")
        .prefetch_related("events")
        .iterator(chunk_size=2000)
    )
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
        failed = [event for event in execution.events.all() if event.event_data.get("error")]
        yield writer.writerow(
            _defuse(value)
            for value in [
                execution.execution_id,
                execution.workflow.name,
                execution.executed_at.astimezone(tz).replace(microsecond=0).isoformat(),
                execution.status,
                execution.execution_time_ms,
                execution.device_type,
                execution.trigger_name,
                execution.page_url,
                execution.session_id,
                execution.client_user_id,
                "; ".join(str(event.event_data["error"]) for event in failed),
                " ".join(event.element_selector for event in failed),
            ]
        )


# A part of a cell that a spreadsheet could read as a formula: = + - @ at its start, or after a
# separator some spreadsheet splits on (a comma, a semicolon, a tab, a line break).
FORMULA_START = re.compile(r"(^|[,;\t\r\n])(\s*)(?=[=+\-@])")


def _defuse(value):
    if isinstance(value, str):
        return FORMULA_START.sub(r"\1\2'", value)
    return value
