"""The read side: what the dashboards show, from scoped querysets and a period.

Counts come from the hourly rollup (kept in the write transaction, so they equal the counters);
timings and breakdowns that need single executions read a bounded window of the newest ones
through an index, so no page scans all executions whatever their number."""

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Max, QuerySet, Sum

from analytics.models import AnalyticsEvent, Execution, HourlyStat
from workflows.models import Workflow

TIMING_SAMPLE = 1000
ACTION_SAMPLE = 500


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    label: str

    @property
    def previous(self) -> "Period":
        length = self.end - self.start
        return Period(self.start - length, self.start, f"the {self.label} before")

    def days(self, tz: ZoneInfo) -> list[date]:
        first, last = self.start.astimezone(tz).date(), self.end.astimezone(tz).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass(frozen=True)
class Totals:
    executions: int = 0
    errors: int = 0
    timeouts: int = 0
    total_time_ms: int = 0
    desktop: int = 0
    mobile: int = 0
    tablet: int = 0

    @property
    def successes(self) -> int:
        return self.executions - self.errors - self.timeouts

    @property
    def success_rate(self) -> float | None:
        return 100 * self.successes / self.executions if self.executions else None

    @property
    def average_ms(self) -> float | None:
        return self.total_time_ms / self.executions if self.executions else None


@dataclass(frozen=True)
class Timing:
    median_ms: float | None
    p95_ms: float | None
    sample: int


@dataclass
class DayCount:
    day: date
    executions: int = 0
    errors: int = 0


@dataclass
class PlaybookRow:
    workflow: Workflow
    totals: Totals
    timing: Timing | None = None


@dataclass
class ActionRow:
    name: str
    selector: str
    count: int = 0
    failures: int = 0
    times: list[int] = field(default_factory=list)
    last_error: str = ""

    @property
    def error_rate(self) -> float:
        return 100 * self.failures / self.count if self.count else 0.0

    @property
    def timing(self) -> Timing:
        return timing_of(self.times)


TOTAL_FIELDS = ("executions", "errors", "timeouts", "total_time_ms", "desktop", "mobile", "tablet")


def stats_for_user(user) -> QuerySet[HourlyStat]:
    return (
        HourlyStat.objects.filter(owner=user)
        if user.is_authenticated
        else HourlyStat.objects.none()
    )


def executions_for_user(user) -> QuerySet[Execution]:
    if not user.is_authenticated:
        return Execution.objects.none()
    return Execution.objects.filter(owner=user)


def in_period(stats: QuerySet[HourlyStat], period: Period) -> QuerySet[HourlyStat]:
    # Hours are whole: an hour counts when it starts inside the period.
    return stats.filter(hour__gte=_floor_hour(period.start), hour__lt=period.end)


@dataclass(frozen=True)
class Hours:
    """A rollup (an owner's or one playbook's) summed per hour since a moment: one query,
    from which a page takes its totals, counts and days instead of scanning it again."""

    rows: list[tuple[datetime, Totals]]

    def totals(self, period: Period) -> Totals:
        start = _floor_hour(period.start)
        return _sum(t for hour, t in self.rows if start <= hour < period.end)

    def since(self, moment: datetime) -> int:
        start = _floor_hour(moment)
        return sum(t.executions for hour, t in self.rows if hour >= start)

    def by_day(self, period: Period, tz: ZoneInfo) -> list[DayCount]:
        days = {day: DayCount(day) for day in period.days(tz)}
        start = _floor_hour(period.start)
        for hour, t in self.rows:
            day = days.get(hour.astimezone(tz).date())
            if day is not None and start <= hour < period.end:
                day.executions += t.executions
                day.errors += t.errors + t.timeouts
        return list(days.values())


def hourly(stats: QuerySet[HourlyStat], since: datetime) -> Hours:
    rows = (
        stats.filter(hour__gte=_floor_hour(since))
        .values("hour")
        .annotate(**{name: Sum(name) for name in TOTAL_FIELDS})
        .order_by()
    )
    return Hours([(row["hour"], Totals(**{n: row[n] for n in TOTAL_FIELDS})) for row in rows])


def _sum(items) -> Totals:
    items = list(items)
    return Totals(**{name: sum(getattr(t, name) for t in items) for name in TOTAL_FIELDS})


def device_breakdown(totals: Totals) -> list[tuple[str, int]]:
    known = [("Desktop", totals.desktop), ("Mobile", totals.mobile), ("Tablet", totals.tablet)]
    unknown = totals.executions - sum(count for _, count in known)
    return known + ([("Unknown", unknown)] if unknown else [])


def combined(rows: list["PlaybookRow"]) -> Totals:
    """The totals of several playbooks, added up without another query."""
    return Totals(**{name: sum(getattr(row.totals, name) for row in rows) for name in TOTAL_FIELDS})


def playbook_rows(
    workflows: QuerySet[Workflow], stats: QuerySet[HourlyStat], period: Period
) -> list[PlaybookRow]:
    """Every playbook with its totals over the period (two queries whatever their number)."""
    sums = {
        row["workflow"]: Totals(**{name: row[name] or 0 for name in TOTAL_FIELDS})
        for row in in_period(stats, period)
        .values("workflow")
        .annotate(**{name: Sum(name) for name in TOTAL_FIELDS})
    }
    return [PlaybookRow(workflow, sums.get(workflow.pk, Totals())) for workflow in workflows]


def ranked_playbooks(rows: list[PlaybookRow], *, worst: bool = False, limit: int = 5) -> list:
    """The most-run playbooks, or those failing most (by success rate, then volume)."""
    ran = [row for row in rows if row.totals.executions]
    if worst:
        ran = [row for row in ran if row.totals.success_rate < 100]
        ran.sort(key=lambda row: (row.totals.success_rate, -row.totals.executions))
    else:
        ran.sort(key=lambda row: (-row.totals.executions, row.workflow.name))
    chosen = ran[:limit]
    for row in chosen:
        row.timing = recent_timing(Execution.objects.filter(workflow=row.workflow))
    return chosen


def recent_timing(executions: QuerySet[Execution], sample: int = TIMING_SAMPLE) -> Timing:
    """Median and p95 execution time of the newest `sample` executions (one indexed query)."""
    times = list(
        executions.order_by("-executed_at").values_list("execution_time_ms", flat=True)[:sample]
    )
    return timing_of(times)


def timing_of(times: list[int]) -> Timing:
    if not times:
        return Timing(None, None, 0)
    ordered = sorted(times)
    return Timing(_percentile(ordered, 50), _percentile(ordered, 95), len(ordered))


def _percentile(ordered: list[int], percent: int) -> float:
    """Nearest-rank percentile: a value that really occurred."""
    return float(ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)])


def trigger_breakdown(workflow: Workflow, sample: int = TIMING_SAMPLE) -> list[tuple[str, int]]:
    names = (
        Execution.objects.filter(workflow=workflow)
        .order_by("-executed_at")
        .values_list("trigger_name", flat=True)[:sample]
    )
    return Counter(name or "Unknown" for name in names).most_common()


def action_performance(workflow: Workflow, sample: int = ACTION_SAMPLE) -> list[ActionRow]:
    """Per action (name and selector) over the newest `sample` executions of a playbook."""
    recent = Execution.objects.filter(workflow=workflow).order_by("-executed_at")[:sample]
    events = (
        AnalyticsEvent.objects.filter(execution__in=recent.values("pk"))
        .order_by("created_at", "pk")
        .values_list("element_selector", "event_type", "event_data")
    )
    rows: dict[tuple[str, str], ActionRow] = {}
    for selector, event_type, data in events:
        name = str(data.get("name", ""))
        row = rows.setdefault((name, selector), ActionRow(name, selector))
        row.count += 1
        if isinstance(data.get("executionTimeMs"), int):
            row.times.append(data["executionTimeMs"])
        if event_type == AnalyticsEvent.EventType.ACTION_FAILED:
            row.failures += 1
            row.last_error = str(data.get("error", ""))
    return sorted(rows.values(), key=lambda row: (-row.count, row.name, row.selector))


def dashboard_version(workflows: QuerySet[Workflow]) -> str:
    """Changes whenever any of these playbooks records an execution: lets a polling fragment
    answer "nothing new" without rendering."""
    state = workflows.aggregate(total=Sum("executions"), latest=Max("last_run"))
    latest = state["latest"].timestamp() if state["latest"] else 0
    return f"{state['total'] or 0}-{latest:.6f}"


def filter_executions(executions: QuerySet[Execution], filters: dict) -> QuerySet[Execution]:
    """History filtered by the validated HistoryFilterForm's cleaned data."""
    if filters.get("status"):
        executions = executions.filter(status=filters["status"])
    if filters.get("device"):
        executions = executions.filter(device_type=filters["device"])
    if filters.get("start"):
        executions = executions.filter(executed_at__gte=filters["start"])
    if filters.get("end"):
        executions = executions.filter(executed_at__lt=filters["end"])
    return executions.order_by("-executed_at", "-pk")


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Change:
    """This period against the one before it."""

    previous: Totals
    executions_percent: float | None
    success_points: float | None
    average_ms_percent: float | None


def compare(current: Totals, previous: Totals) -> Change:
    def percent(now: float | None, before: float | None) -> float | None:
        return None if now is None or not before else 100 * (now - before) / before

    points = (
        current.success_rate - previous.success_rate
        if current.success_rate is not None and previous.success_rate is not None
        else None
    )
    return Change(
        previous,
        percent(current.executions, previous.executions),
        points,
        percent(current.average_ms, previous.average_ms),
    )
