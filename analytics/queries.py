"""The read side: what the dashboards show, from scoped querysets and a period.

Counts come from the daily and hourly rollups (kept in the write transaction, so they equal
the counters): whole UTC days from the daily rows, the hours at a range's edges from the
hourly ones;
timings and breakdowns that need single executions read a bounded window of the newest ones
through an index, so no page scans all executions whatever their number."""

import contextlib
import math
import operator
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote_plus, urlsplit
from zoneinfo import ZoneInfo

from django.contrib.postgres.fields import ArrayField
from django.db import DatabaseError, connection
from django.db.models import BigIntegerField, Max, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from analytics.models import ROLLUP_SUMS, AnalyticsEvent, DailyStat, Execution, HourlyStat
from workflows.models import Workflow

TIMING_SAMPLE = 1000
# Per ranked playbook: ten of them on a page, read in one query.
RANKING_TIMING_SAMPLE = 300
ACTION_SAMPLE = 500


# Up to this long, a period's chart has a bar per hour; past it, a bar per day.
HOURLY_UP_TO = timedelta(hours=48)


@dataclass(frozen=True)
class Period:
    """The one stretch of time a dashboard page shows, every figure on it included."""

    start: datetime
    end: datetime
    label: str  # "Last 7 days", "Nov 10 – Nov 12"
    previous_label: str  # how the period before it is named: "the 7 days before", "Nov 7 – 9"

    @property
    def previous(self) -> "Period":
        length = self.end - self.start
        return Period(self.start - length, self.start, self.previous_label, "")

    @property
    def span(self) -> "Span":
        return Span.of(self.start, self.end)

    @property
    def hourly(self) -> bool:
        return self.end - self.start <= HOURLY_UP_TO

    def days(self, tz: ZoneInfo) -> list[date]:
        first, last = self.start.astimezone(tz).date(), self.end.astimezone(tz).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def buckets(self, tz: ZoneInfo) -> list["Bucket"]:
        """The chart's bars: each local hour of a short period, else each local day."""
        if not self.hourly:
            return [
                Bucket(f"{day:%b %-d}", f"{day:%a %b %-d}", span)
                for day, span in day_spans(self, tz).items()
            ]
        whole = self.span
        buckets, hour = [], whole.start
        while hour < whole.end:
            local = hour.astimezone(tz)
            buckets.append(
                Bucket(f"{local:%H}:00", f"{local:%a %b %-d, %H}:00", Span(hour, hour + HOUR))
            )
            hour += HOUR
        return buckets


HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Bucket:
    label: str  # under the bar
    title: str  # in full, for its tooltip and the table
    span: "Span"


class Totals(NamedTuple):
    """What the rollups add up over a stretch of time. Totals add and subtract field by
    field."""

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
    def failures(self) -> int:
        return self.errors + self.timeouts

    @property
    def success_rate(self) -> float | None:
        return 100 * self.successes / self.executions if self.executions else None

    @property
    def average_ms(self) -> float | None:
        return self.total_time_ms / self.executions if self.executions else None

    def __add__(self, other: "Totals") -> "Totals":
        return Totals._make(map(operator.add, self, other))

    def __sub__(self, other: "Totals") -> "Totals":
        return Totals._make(map(operator.sub, self, other))


ZERO = Totals()


@dataclass(frozen=True)
class Timing:
    median_ms: float | None
    p95_ms: float | None
    sample: int


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


@dataclass(frozen=True)
class Span:
    """Whole UTC hours, from `start` (included) to `end` (excluded): the rollups' grain. An
    hour counts when it starts inside the moments the span was made from."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, start: datetime, end: datetime) -> "Span":
        first = _hour_ceiling(start)
        return cls(first, max(first, _hour_ceiling(end)))

    def within(self, other: "Span") -> "Span":
        start = min(max(self.start, other.start), other.end)
        return Span(start, max(start, min(self.end, other.end)))

    def pieces(self) -> tuple[list[date], list[datetime], list[datetime]]:
        """The UTC days to read whole, the hours to add and the hours to take away: a day the
        span covers mostly is read as the day less the hours it leaves out."""
        days: list[date] = []
        plus: list[datetime] = []
        minus: list[datetime] = []
        day_start = self.start.replace(hour=0)
        while day_start < self.end:
            day_end = day_start + timedelta(days=1)
            first, last = max(self.start, day_start), min(self.end, day_end)
            if (first, last) == (day_start, day_end):
                days.append(day_start.date())
            elif last - first <= timedelta(hours=12):
                plus += _hours(first, last)
            else:
                days.append(day_start.date())
                minus += _hours(day_start, first) + _hours(last, day_end)
            day_start = day_end
        return days, plus, minus


def _hour_ceiling(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    return hour if hour == moment else hour + timedelta(hours=1)


def _hours(start: datetime, end: datetime) -> list[datetime]:
    return [start + timedelta(hours=n) for n in range(int((end - start) / timedelta(hours=1)))]


def day_spans(period: Period, tz: ZoneInfo) -> dict[date, Span]:
    """The period's part of each local day it touches (the chart's bars)."""
    whole = period.span
    spans = {}
    for day in period.days(tz):
        midnight = datetime.combine(day, time.min, tzinfo=tz)
        next_midnight = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
        spans[day] = Span.of(midnight, next_midnight).within(whole)
    return spans


def bucket_counts(sums: Mapping[Any, "Totals"], buckets: list[Bucket]) -> list["BucketCount"]:
    """The chart's bars from the totals of each bucket's span (keyed by the bucket)."""
    return [
        BucketCount(bucket, sums[bucket].executions, sums[bucket].failures) for bucket in buckets
    ]


@dataclass(frozen=True)
class BucketCount:
    bucket: Bucket
    executions: int
    failed: int


@dataclass(frozen=True)
class Rollups:
    """An owner's hourly and daily rollups (or one playbook's), scoped by owner: sums over
    any whole hours from whole days where it can, hourly rows only for the rest."""

    hourly: QuerySet[HourlyStat]
    daily: QuerySet[DailyStat]

    @classmethod
    def for_user(cls, user) -> "Rollups":
        return cls(HourlyStat.objects.for_user(user), DailyStat.objects.for_user(user))

    def of_playbook(self, workflow: Workflow) -> "Rollups":
        return Rollups(self.hourly.filter(workflow=workflow), self.daily.filter(workflow=workflow))

    def totals(self, spans: Mapping[Any, Span]) -> dict[Any, "Totals"]:
        """The totals over each span (two queries however many spans). The days are read as one
        range, from the first any span needs to the last: spans asked for together lie side by
        side (a period, its bars, the period before)."""
        pieces = {key: span.pieces() for key, span in spans.items()}
        days = {day for needed, _, _ in pieces.values() for day in needed}
        hours = {hour for _, plus, minus in pieces.values() for hour in plus + minus}
        by_day = _sums_by(self._days(days), "day") if days else {}
        by_hour = _sums_by(self.hourly.filter(hour__in=hours), "hour") if hours else {}
        return {
            key: _sum(by_day.get(day, ZERO) for day in needed)
            + _sum(by_hour.get(hour, ZERO) for hour in plus)
            - _sum(by_hour.get(hour, ZERO) for hour in minus)
            for key, (needed, plus, minus) in pieces.items()
        }

    def per_playbook(self, span: Span) -> dict[int, "Totals"]:
        """Each playbook's totals over the span, by workflow pk (at most three queries)."""
        days, plus, minus = span.pieces()
        sums: dict[int, Totals] = defaultdict(Totals)
        for rows, sign in (
            (self._days(days) if days else None, operator.add),
            (self.hourly.filter(hour__in=plus) if plus else None, operator.add),
            (self.hourly.filter(hour__in=minus) if minus else None, operator.sub),
        ):
            if rows is None:
                continue
            for workflow_pk, totals in _sums_by(rows, "workflow").items():
                sums[workflow_pk] = sign(sums[workflow_pk], totals)
        return dict(sums)

    def _days(self, days: Collection[date]) -> QuerySet[DailyStat]:
        """The daily rows from the first of `days` to the last."""
        return self.daily.filter(day__range=(min(days), max(days)))


def _sum(items: Iterable[Totals]) -> Totals:
    return sum(items, start=ZERO)


def _sums_by(rows: QuerySet, key: str) -> dict[Any, "Totals"]:
    grouped = (
        rows.values(key)
        .annotate(**{name: Sum(name) for name in ROLLUP_SUMS})
        .values_list(key, *ROLLUP_SUMS)
        .order_by()
    )
    return {group: Totals(**dict(zip(ROLLUP_SUMS, sums, strict=True))) for group, *sums in grouped}


def device_breakdown(totals: Totals) -> list[tuple[str, int]]:
    known = [("Desktop", totals.desktop), ("Mobile", totals.mobile), ("Tablet", totals.tablet)]
    unknown = totals.executions - sum(count for _, count in known)
    return known + ([("Unknown", unknown)] if unknown else [])


def playbook_rows(
    workflows: QuerySet[Workflow], rollups: Rollups, period: Period
) -> list[PlaybookRow]:
    """Every playbook with its totals over the period (a bounded number of queries). A row
    shows no triggers or actions: they are left unread."""
    sums = rollups.per_playbook(period.span)
    shown = workflows.defer("triggers", "actions")
    return [PlaybookRow(workflow, sums.get(workflow.pk, ZERO)) for workflow in shown]


# The worst list ranks by error rate only playbooks that ran at least this often in the period:
# one failure in two runs says little.
WORST_MIN_RUNS = 10


# What a ranking shows of a playbook (its name, linked): rows read only to be ranked read no
# more of each playbook.
RANKED_FIELDS = ("public_id", "name")


@dataclass(frozen=True)
class Rankings:
    top: list[PlaybookRow]
    worst: list[PlaybookRow]


def rankings(rows: list[PlaybookRow], executions: QuerySet[Execution], limit: int = 5) -> Rankings:
    """The worst playbooks by error rate (errors and timeouts), among those that ran at least
    WORST_MIN_RUNS times; the top ones by successful runs, then success rate, among the rest:
    never one playbook in both. Timings from the newest of `executions` (the period's)."""
    failing = [
        row
        for row in rows
        if row.totals.executions >= WORST_MIN_RUNS and row.totals.successes < row.totals.executions
    ]
    failing.sort(key=lambda row: (row.totals.success_rate, -row.totals.executions))
    worst = failing[:limit]
    shown = {row.workflow.pk for row in worst}
    ran = [row for row in rows if row.totals.executions and row.workflow.pk not in shown]
    ran.sort(key=lambda row: (-row.totals.successes, -row.totals.success_rate, row.workflow.name))
    top = ran[:limit]
    ranked = [row.workflow for row in top + worst]
    timings = recent_timings(executions, ranked, sample=RANKING_TIMING_SAMPLE)
    for row in top + worst:
        row.timing = timings[row.workflow.pk]
    return Rankings(top, worst)


class SampleTiming(Subquery):
    """[median, p95, size] of the values a one-column subquery returns, computed by
    PostgreSQL: nearest-rank percentiles, as `timing_of` takes them."""

    template = (
        "(SELECT ARRAY[percentile_disc(0.5) WITHIN GROUP (ORDER BY v),"
        " percentile_disc(0.95) WITHIN GROUP (ORDER BY v), count(*)]"
        " FROM (%(subquery)s) AS sample (v))"
    )
    output_field = ArrayField(BigIntegerField())


def recent_timings(
    executions: QuerySet[Execution], workflows: list, sample: int = TIMING_SAMPLE
) -> dict[int, Timing]:
    """`recent_timing` of each workflow's executions, in one query: PostgreSQL reads each
    workflow's newest `sample` through its index and hands back their percentiles only."""
    pks = [workflow.pk for workflow in workflows]
    if connection.vendor != "postgresql":
        # SQLite (the quick start) has no percentiles: a read each, at most ten.
        return {pk: recent_timing(executions.filter(workflow=pk), sample) for pk in pks}
    newest = executions.filter(workflow=OuterRef("pk")).order_by("-executed_at")
    # The caller's playbooks, named by pk: all that is read of them comes from `executions`,
    # scoped to their owner.
    found = (
        Workflow.objects.filter(pk__in=pks)
        .order_by()
        .values_list("pk", SampleTiming(newest.values("execution_time_ms")[:sample]))
    )
    none = Timing(None, None, 0)
    return dict.fromkeys(pks, none) | {
        pk: Timing(float(median), float(p95), size) if size else none
        for pk, (median, p95, size) in found
    }


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


BREAKDOWN_SAMPLE = 1000
# Each breakdown: the history filter a click sets, and what it counts of an execution.
BREAKDOWNS = {
    "path": ("Page", lambda url, trigger: urlsplit(url).path or "–"),
    "utm_source": ("UTM source", lambda url, trigger: _query_value(url, "utm_source")),
    "utm_campaign": ("UTM campaign", lambda url, trigger: _query_value(url, "utm_campaign")),
    "trigger": ("Trigger", lambda url, trigger: trigger or "–"),
}


@dataclass(frozen=True)
class Breakdown:
    name: str  # the history filter it sets
    label: str
    items: list[tuple[str, int]]
    counted: int  # how many of the period's newest executions it counts
    partial: bool  # the period has more executions than it counts


@dataclass(frozen=True)
class NewestRuns:
    timing: Timing  # of the newest TIMING_SAMPLE
    breakdowns: list[Breakdown]  # of the newest BREAKDOWN_SAMPLE


def newest_runs(executions: QuerySet[Execution]) -> NewestRuns:
    """The timing and the breakdowns of the newest of `executions` (one indexed query): of
    every execution of the period when it has fewer."""
    runs = list(
        executions.order_by("-executed_at").values_list(
            "execution_time_ms", "page_url", "trigger_name"
        )[: max(TIMING_SAMPLE, BREAKDOWN_SAMPLE)]
    )
    return NewestRuns(
        timing_of([ms for ms, _, _ in runs[:TIMING_SAMPLE]]),
        breakdowns([(url, trigger) for _, url, trigger in runs[:BREAKDOWN_SAMPLE]]),
    )


def breakdowns(runs: list[tuple[str, str]]) -> list[Breakdown]:
    """Page, UTM source and campaign, and trigger of the newest runs' pages and triggers, up
    to BREAKDOWN_SAMPLE of them."""
    # Runs repeat the same pages: each distinct one is parsed once.
    distinct = Counter(runs)
    counted = len(runs)
    found = []
    for name, (label, value_of) in BREAKDOWNS.items():
        counts: Counter[str] = Counter()
        for (url, trigger), times in distinct.items():
            counts[value_of(url, trigger)] += times
        partial = counted == BREAKDOWN_SAMPLE
        found.append(Breakdown(name, label, counts.most_common(8), counted, partial))
    return found


def _query_value(url: str, name: str) -> str:
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else "–"


def action_performance(
    executions: QuerySet[Execution], sample: int = ACTION_SAMPLE
) -> list[ActionRow]:
    """Per action (name and selector) over the newest `sample` of a playbook's executions."""
    recent = executions.order_by("-executed_at")[:sample]
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


def may_match(totals: Totals, filters: dict) -> bool:
    """False when the period's rollups count no run of the filters' status or device: the
    history then needs no read (one that matches nothing would scan the whole period)."""
    by_status = {"success": totals.successes, "error": totals.errors, "timeout": totals.timeouts}
    by_device = {"desktop": totals.desktop, "mobile": totals.mobile, "tablet": totals.tablet}
    status, device = filters.get("status"), filters.get("device")
    return not ((status and not by_status[status]) or (device and not by_device[device]))


@contextlib.contextmanager
def planned_for_their_values():
    """Plan each read for the values it runs with, then set the connection back.

    psycopg prepares a statement run often on a connection, and PostgreSQL soon gives a
    prepared statement one generic plan, which cannot tell a period of an hour from one of 90
    days: it reads every row of a long period to sort out the newest few. The tracking
    statement, on the same connections, keeps its generic plan (planning costs more than it).
    Used as a decorator on the views that read executions by period."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('plan_cache_mode'),"
            " set_config('plan_cache_mode', 'force_custom_plan', false)"
        )
        previous = cursor.fetchone()[0]
    try:
        yield
    finally:
        # A connection lost meanwhile is dropped at the end of the request anyway.
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('plan_cache_mode', %s, false)", [previous])


def narrowed_by_breakdown(filters: dict) -> bool:
    return any(filters.get(name) for name in BREAKDOWNS)


def filter_executions(
    executions: QuerySet[Execution], period: Period, filters: dict
) -> QuerySet[Execution]:
    """The period's executions, filtered by the validated HistoryFilterForm's cleaned data."""
    executions = executions.filter(executed_at__gte=period.start, executed_at__lt=period.end)
    if narrowed_by_breakdown(filters):
        # A breakdown's value is looked for among the runs the breakdowns count, so that a
        # click shows the runs it counted, and a rare value never scans a whole long period:
        # one index range, from the oldest of them (the period's start when it has fewer).
        oldest = executions.order_by("-executed_at").values("executed_at")
        oldest = oldest[BREAKDOWN_SAMPLE - 1 : BREAKDOWN_SAMPLE]
        executions = executions.filter(
            executed_at__gte=Coalesce(Subquery(oldest), Value(period.start))
        )
    if filters.get("status"):
        executions = executions.filter(status=filters["status"])
    if filters.get("device"):
        executions = executions.filter(device_type=filters["device"])
    if filters.get("trigger"):
        executions = executions.filter(trigger_name=filters["trigger"])
    if filters.get("path"):
        path = re.escape(filters["path"])
        executions = executions.filter(page_url__regex=rf"^[a-z]+://[^/?#]+{path}([?#]|$)")
    for name in ("utm_source", "utm_campaign"):
        if filters.get(name):
            value = re.escape(quote_plus(filters[name], safe=""))
            executions = executions.filter(page_url__regex=rf"[?&]{name}={value}(&|#|$)")
    return executions.order_by("-executed_at", "-pk")


@dataclass(frozen=True)
class Delta:
    """A figure against the period before: how it changed, and whether that is good news (more
    runs, a higher success rate) or bad (more failures, slower runs)."""

    # "+12.5%", "−3.0 pts", "+2" (from none); None when there is nothing to compare.
    text: str | None
    tone: str  # "good", "bad" or "neutral"


def _delta(now: float | None, before: float | None, *, better: str, rate: bool = False) -> Delta:
    if now is None or before is None:
        return Delta(None, "neutral")
    difference = now - before
    tone = (
        "neutral" if not difference else "good" if (difference > 0) == (better == "up") else "bad"
    )
    sign = "+" if difference > 0 else "−" if difference < 0 else "±"
    if rate:
        return Delta(f"{sign}{abs(difference):.1f} pts", tone)
    if before:
        return Delta(f"{sign}{abs(100 * difference / before):.1f}%", tone)
    return Delta(f"{sign}{abs(difference):g}", tone)


@dataclass(frozen=True)
class Change:
    """This period against the one before it."""

    previous: Totals
    executions: Delta
    success_rate: Delta
    average_ms: Delta
    failures: Delta


def compare(current: Totals, previous: Totals) -> Change:
    return Change(
        previous,
        _delta(
            current.executions, previous.executions if previous.executions else None, better="up"
        ),
        _delta(current.success_rate, previous.success_rate, better="up", rate=True),
        _delta(current.average_ms, previous.average_ms, better="down"),
        _delta(current.failures, previous.failures, better="down"),
    )
