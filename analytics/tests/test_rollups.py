"""The daily rollup always adds up to the hourly one, and reading whole days from it with hours
at the edges gives exactly what summing every hour would."""

import importlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.db.models import Sum
from django.db.models.functions import TruncDate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.models import ROLLUP_SUMS, DailyStat, HourlyStat
from analytics.queries import Period, Rollups, Span, Totals, day_spans
from analytics.services import record_execution
from analytics.tests.helpers import execution_body, post_execution
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


def daily_rows() -> dict:
    rows = DailyStat.objects.values("workflow", "day").annotate(**{n: Sum(n) for n in ROLLUP_SUMS})
    return {(row["workflow"], row["day"]): [row[n] for n in ROLLUP_SUMS] for row in rows}


def hourly_rows_by_day() -> dict:
    rows = (
        HourlyStat.objects.annotate(utc_day=TruncDate("hour", tzinfo=UTC))
        .values("workflow", "utc_day")
        .annotate(**{n: Sum(n) for n in ROLLUP_SUMS})
    )
    return {(row["workflow"], row["utc_day"]): [row[n] for n in ROLLUP_SUMS] for row in rows}


def test_both_rollups_add_up_to_the_same_whatever_the_write_path(
    client, alice, alice_workflow, settings
):
    settings.TRACKING_MAX_DELAY_SECONDS = 30 * 86400
    # Yesterday noon (UTC): an hour either side stays on the same day at any time of day.
    noon = (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0, second=0)
    for days_ago, status, device in [(0, "success", "mobile"), (3, "error", "tablet")]:
        started = (noon - timedelta(days=days_ago)).isoformat()
        body = execution_body(alice_workflow, startedAt=started, status=status, deviceType=device)
        assert post_execution(client, body, site=alice_workflow.site).status_code == 201
    batch = [
        execution_body(alice_workflow, startedAt=(noon - timedelta(days=n)).isoformat())
        for n in (0, 1, 1, 25)
    ]
    posted = post_execution(client, {"executions": batch}, site=alice_workflow.site)
    assert posted.json()["recorded"] == 4
    record_execution(
        owner=alice,
        site=None,
        workflow_id=alice_workflow.public_id,
        status="timeout",
        execution_time_ms=5,
        started_at=noon - timedelta(days=25, hours=1),
    )

    assert daily_rows() == hourly_rows_by_day()
    assert sum(row[0] for row in daily_rows().values()) == 7
    assert len(daily_rows()) == 4


def test_the_migration_adds_up_the_hours_recorded_before_it(alice_workflow):
    for days_ago in (0, 0, 2, 40):
        record_execution(
            owner=alice_workflow.owner,
            site=None,
            workflow_id=alice_workflow.public_id,
            status="error",
            execution_time_ms=7,
            device_type="desktop",
            started_at=datetime.now(UTC) - timedelta(days=days_ago),
        )
    expected = daily_rows()
    DailyStat.objects.all().delete()

    migration = importlib.import_module("analytics.migrations.0003_dailystat")
    migration.add_up_existing_hours(apps, None)

    assert daily_rows() == expected == hourly_rows_by_day()


def test_reading_any_span_costs_two_queries(
    alice, django_assert_num_queries, django_assert_max_num_queries
):
    now = datetime.now(UTC)
    spans = {n: Span.of(now - timedelta(days=n, hours=5), now) for n in range(1, 40)}

    with django_assert_num_queries(2):
        Rollups.for_user(alice).totals(spans)
    with django_assert_max_num_queries(3):
        Rollups.for_user(alice).per_playbook(spans[30])


ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Adelaide",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
]
BASE = datetime(2026, 3, 20, tzinfo=UTC)  # DST changes in Europe and America are near


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    zone=st.sampled_from(ZONES),
    hours=st.lists(st.tuples(st.integers(0, 24 * 70), st.integers(1, 3)), max_size=60),
    now_minutes=st.integers(0, 24 * 60 * 10),
    length=st.sampled_from(
        [timedelta(hours=24), timedelta(days=7), timedelta(days=30), timedelta(days=61)]
    ),
    custom=st.booleans(),
)
def test_days_with_hours_at_the_edges_equal_every_hour_summed(
    alice, alice_site, zone, hours, now_minutes, length, custom
):
    HourlyStat.objects.all().delete()
    DailyStat.objects.all().delete()
    Workflow.objects.all().delete()
    workflows = [
        Workflow.objects.create(owner=alice, site=alice_site, name=f"P{n}") for n in range(2)
    ]
    tz = ZoneInfo(zone)
    now = BASE + timedelta(minutes=now_minutes)
    # Every hour of the first playbook has executions, so that an hour too many or too few at
    # any edge shows; the second playbook's hours are the generated ones.
    sums: dict = {}
    latest = now.replace(minute=0, second=0, microsecond=0)
    for hours_ago in range(24 * 70):
        sums[(workflows[0].pk, latest - timedelta(hours=hours_ago))] = 1 + hours_ago % 97
    for hours_ago, count in hours:
        key = (workflows[1].pk, latest - timedelta(hours=hours_ago))
        sums[key] = sums.get(key, 0) + count
    days: dict = {}
    for (pk, hour), n in sums.items():
        day = days.setdefault((pk, hour.date()), [0, 0])
        day[0] += n
        day[1] += n // 2
    for model, bucket, rows in (
        (HourlyStat, "hour", {key: (n, n // 2) for key, n in sums.items()}),
        (DailyStat, "day", days),
    ):
        model.objects.bulk_create(
            model(
                workflow_id=pk,
                owner=alice,
                **{bucket: value},
                executions=n,
                errors=errors,
                desktop=n,
                total_time_ms=100 * n,
            )  # fmt: skip
            for (pk, value), (n, errors) in rows.items()
        )
    if custom:
        first = (now - length).astimezone(tz).date()
        period = Period(
            datetime.combine(first, datetime.min.time(), tzinfo=tz),
            datetime.combine(now.astimezone(tz).date(), datetime.min.time(), tzinfo=tz),
            "custom",
            "the days before",
        )
    else:
        end_hour = now.replace(minute=0, second=0, microsecond=0)
        period = Period(end_hour + timedelta(hours=1) - length, now, "range", "the range before")

    def brute(hour_counts) -> Totals:
        n = sum(hour_counts)
        return Totals(
            executions=n, errors=sum(c // 2 for c in hour_counts), desktop=n, total_time_ms=100 * n
        )

    def in_period(hour) -> bool:
        # An hour counts when it starts inside the period.
        return period.start <= hour < period.end

    rollups = Rollups.for_user(alice)
    spans = day_spans(period, tz)
    got = rollups.totals({"period": Span.of(period.start, period.end), **spans})

    assert got["period"] == brute([n for (_, hour), n in sums.items() if in_period(hour)])
    for day in period.days(tz):
        # A bar is the hours whose local date is that day, inside the period.
        expected = [
            n
            for (_, hour), n in sums.items()
            if in_period(hour) and hour.astimezone(tz).date() == day
        ]
        assert got[day] == brute(expected), day
    per_playbook = rollups.per_playbook(Span.of(period.start, period.end))
    for workflow in workflows:
        expected = [n for (pk, hour), n in sums.items() if pk == workflow.pk and in_period(hour)]
        assert per_playbook.get(workflow.pk, Totals()) == brute(expected)
