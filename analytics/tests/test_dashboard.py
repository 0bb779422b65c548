import csv
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from analytics.models import HourlyStat
from analytics.services import count_not_counted
from analytics.tests.helpers import convert, run
from workflows.models import Goal, Profile, Workflow

pytestmark = pytest.mark.django_db


def test_the_overview_shows_exact_counts_for_its_one_period(as_alice, known_data):
    week = as_alice.get("/")  # 7 days by default
    month = as_alice.get("/", {"range": "30d"}).context

    assert week.status_code == 200
    context = week.context
    assert context["totals"].executions == 4
    assert context["totals"].success_rate == pytest.approx(75.0)
    assert (context["timing"].median_ms, context["timing"].p95_ms) == (20, 400)
    assert context["active_playbooks"] == 1
    assert [row.totals.executions for row in context["rankings"].top] == [4]
    assert len(context["feed"]) == 4  # the feed keeps to the period too
    assert sum(count.executions for count in context["chart"].counts) == 4
    assert b'id="count-period">4<' in week.content
    assert month["totals"].executions == 5 and len(month["feed"]) == 5


def test_the_playbook_page_shows_its_counter_breakdowns_and_history(as_alice, known_data):
    response = as_alice.get(f"/playbooks/{known_data.public_id}/")  # 30 days by default

    assert response.status_code == 200
    context = response.context
    assert b'id="counter">6<' in response.content
    assert context["totals"].executions == 5
    assert (context["totals"].errors, context["totals"].timeouts) == (1, 1)
    assert [(s.label, s.count) for s in context["devices"]] == [
        ("Desktop", 1),
        ("Mobile", 3),
        ("Tablet", 1),
    ]
    triggers = next(
        items for breakdown, items in context["breakdowns"] if breakdown.name == "trigger"
    )
    assert {item.label: item.count for item in triggers} == {"Device Type": 4, "–": 1}
    assert len(context["history"]) == 5  # the period's, not the 40-day-old one
    assert context["chart"].peak == 3


def test_history_filters_by_status_and_device_within_the_period(as_alice, known_data):
    url = f"/playbooks/{known_data.public_id}/"

    errors = as_alice.get(url, {"status": "error"}).context["history"]
    mobile = as_alice.get(url, {"device": "mobile"}).context["history"]
    today = timezone.localdate()
    recent = as_alice.get(url, {"start": today - timedelta(days=4), "end": today}).context

    assert [e.status for e in errors] == ["error"]
    assert len(mobile) == 3
    assert len(recent["history"]) == 4
    assert recent["totals"].executions == 4  # the same period for the figures


def test_history_pages_without_counting(as_alice, alice_workflow):
    for minutes in range(30):
        run(alice_workflow, ago=timedelta(minutes=minutes + 1))

    first = as_alice.get(f"/playbooks/{alice_workflow.public_id}/")
    second = as_alice.get(f"/playbooks/{alice_workflow.public_id}/", {"page": 2})

    assert len(first.context["history"]) == 25
    assert first.context["next_page"] is not None
    assert len(second.context["history"]) == 5
    assert second.context["next_page"] is None


def test_the_analytics_page_compares_with_the_previous_period(as_alice, known_data):
    response = as_alice.get("/analytics/", {"range": "7d"})

    change = response.context["change"]
    assert response.context["totals"].executions == 4
    assert change.previous.executions == 0
    assert change.executions.text is None
    assert b"No runs to compare in the 7 days before" in response.content
    month = as_alice.get("/analytics/", {"range": "30d"})
    change = month.context["change"]
    assert month.context["totals"].executions == 5
    assert change.previous.executions == 1
    assert change.executions.text == "+400.0%"
    assert change.executions.tone == "good"  # more runs
    assert change.failures.tone == "bad"  # two failures against none
    assert change.failures.text == "+2"  # from none: no percentage
    assert b'class="change-bad">+2<' in month.content


def test_custom_days_count_whole_days_and_compare_with_the_days_before(as_alice, known_data):
    today = timezone.localdate()
    first, last = today - timedelta(days=21), today - timedelta(days=2)

    response = as_alice.get("/analytics/", {"start": first, "end": last})

    assert response.context["totals"].executions == 2
    period = response.context["period"]
    before = first - timedelta(days=20), first - timedelta(days=1)
    assert period.previous.label == f"{before[0]:%b %-d} – {before[1]:%b %-d, %Y}" or (
        before[0].year != before[1].year
    )
    assert period.label.startswith(f"{first:%b %-d}")


def test_backwards_days_are_explained(as_alice, known_data):
    response = as_alice.get("/analytics/", {"start": "2026-02-10", "end": "2026-02-01"})

    assert response.status_code == 400
    assert b"The last day is before the first day." in response.content


def test_the_playbook_list_sorts_both_ways_and_searches(as_alice, alice, alice_site, known_data):
    other = Workflow.objects.create(owner=alice, site=alice_site, name="Another one")
    run(other)

    by_runs = as_alice.get("/playbooks/", {"sort": "executions"})
    fewest_first = as_alice.get("/playbooks/", {"sort": "executions", "order": "asc"})
    found = as_alice.get("/playbooks/", {"q": "anoth"}).context["rows"]

    assert [row.workflow.name for row in by_runs.context["rows"]] == [
        known_data.name,
        "Another one",
    ]
    assert [row.workflow.name for row in fewest_first.context["rows"]] == [
        "Another one",
        known_data.name,
    ]
    assert [row.workflow.name for row in found] == ["Another one"]
    column = next(c for c in by_runs.context["columns"] if c.label == "Executions, all time")
    assert column.aria_sort == "descending" and "order=asc" in column.url
    assert b'aria-sort="descending"' in by_runs.content


def test_last_run_is_shown_in_the_users_time_zone(client, alice, alice_workflow):
    Profile.objects.create(user=alice, time_zone="Pacific/Kiritimati")
    client.post("/accounts/login/", {"username": "alice", "password": "alice-password"})
    moment = timezone.now().replace(hour=23, minute=30, second=0, microsecond=0) - timedelta(days=1)
    run(alice_workflow, ago=timezone.now() - moment)

    response = client.get("/playbooks/")

    local = timezone.localtime(moment, timezone=ZoneInfo("Pacific/Kiritimati"))
    assert f"{local:%H:%M}".encode() in response.content


def test_a_poll_with_nothing_new_answers_204_and_a_new_execution_swaps(as_alice, alice_workflow):
    page = as_alice.get("/")
    poll_url = page.context["poll_urls"]["live"]

    unchanged = as_alice.get(poll_url, HTTP_HX_REQUEST="true")
    run(alice_workflow)
    changed = as_alice.get(poll_url, HTTP_HX_REQUEST="true")

    assert unchanged.status_code == 204
    assert changed.status_code == 200
    assert b"<html" not in changed.content
    assert b'id="live"' in changed.content
    assert b'id="count-period">1<' in changed.content


def test_the_history_fragment_is_served_alone(as_alice, known_data):
    page = as_alice.get(f"/playbooks/{known_data.public_id}/")

    fragment = as_alice.get(
        page.context["poll_urls"]["history"].replace("v=", "v=stale"), HTTP_HX_REQUEST="true"
    )

    assert fragment.status_code == 200
    assert b'id="history"' in fragment.content
    assert b'id="live"' not in fragment.content


def test_the_csv_export_has_every_filtered_execution_and_defuses_formulas(as_alice, known_data):
    run(known_data, session_id="=HYPERLINK(1)")

    response = as_alice.get(
        f"/playbooks/{known_data.public_id}/executions.csv", {"status": "success"}
    )
    rows = list(csv.reader(b"".join(response.streaming_content).decode().splitlines()))

    assert response["Content-Type"] == "text/csv"
    assert rows[0][:4] == ["executionId", "playbook", "executedAt", "status"]
    assert len(rows) == 1 + 4  # the page's period (30 days): not the 40-day-old one
    assert any("'=HYPERLINK(1)" in row for row in rows)


def test_no_part_of_a_csv_cell_reads_as_a_formula_whatever_the_separator(as_alice, known_data):
    run(
        known_data,
        session_id="ok;=cmd|' /C calc'!A0",
        client_user_id="x\t=1+1",
        trigger_name="a,@SUM(1)",
        page_url="https://shop.example/?q=-1",
    )

    text = b"".join(
        as_alice.get(f"/playbooks/{known_data.public_id}/executions.csv").streaming_content
    ).decode()
    lines = text.splitlines()

    # Every cell is quoted, so that a spreadsheet splitting on , ; or tab keeps it whole...
    assert all(line.startswith('"') and line.endswith('"') for line in lines)
    # ...and however it splits a cell, no part starts a formula.
    cells = [cell for row in csv.reader(lines) for cell in row]
    parts = [part.strip() for cell in cells for part in re.split(r"[,;\t\r\n]", cell)]
    assert not [part for part in parts if part[:1] in ("=", "+", "-", "@")]
    assert "ok;'=cmd|' /C calc'!A0" in cells and "https://shop.example/?q=-1" in cells


def test_invalid_filters_answer_400_and_never_a_server_error(as_alice, known_data, caplog):
    detail = f"/playbooks/{known_data.public_id}/"
    urls = [
        "/analytics/?end=9999-12-31",
        "/analytics/?range=custom&start=0001-01-01&end=0001-01-02",
        "/analytics/executions.csv?end=9999-12-31",
        f"{detail}?start=0001-01-01",
        f"{detail}executions.csv?start=0001-01-01",
        "/?range=custom&start=2026-01-01&end=10000-01-01",
    ]

    with caplog.at_level("ERROR"):
        statuses = {url: as_alice.get(url).status_code for url in urls}
        search = as_alice.get("/playbooks/", {"q": "\x00 hero"})

    assert set(statuses.values()) == {400}, statuses
    assert search.status_code == 200
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
    page = as_alice.get("/analytics/?end=9999-12-31").content
    assert b"Choose a day until 2099-12-31." in page


PAGES = [
    "/",
    "/?range=24h",
    "/playbooks/",
    "/playbooks/?sort=errors&order=desc",
    "/analytics/",
    "/analytics/?range=90d&status=error&device=mobile&path=/pricing",
    "/playbooks/{playbook}/",
    "/playbooks/{playbook}/?range=48h&trigger=Device+Type",
    "/executions/{execution}/",
    "/goals/",
]


def queries_per_page(client, urls) -> dict[str, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for url in urls:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200, url
        counts[url] = len(captured)
    return counts


def test_every_page_runs_the_same_number_of_queries_whatever_the_data(as_alice, alice, alice_site):
    """Counted with one playbook and one run, then with 40 playbooks and 20 times the runs
    across devices, paths, triggers, statuses and days: the counts must not move."""
    actions = [{"name": "Hide", "selector": ".x", "execution_time_ms": 2}]
    first = Workflow.objects.create(
        owner=alice, site=alice_site, name="Playbook 0", holdout_percent=10
    )
    Goal.objects.create(owner=alice, site=alice_site, name="Buy", kind="call", event="buy")
    # One run the filtered pages find (a filter the rollups say nothing matches skips a read).
    found = {"status": "error", "device": "mobile", "page_url": "https://shop.example/pricing"}
    execution_id = run(first, actions=actions, **found).execution_id
    urls = [url.format(playbook=first.public_id, execution=execution_id) for url in PAGES]
    few = queries_per_page(as_alice, urls)

    for index in range(1, 40):
        Workflow.objects.create(
            owner=alice, site=alice_site, name=f"Playbook {index}", holdout_percent=index % 3 * 10
        )
    for name in ("Sign up", "Pricing", "Contact"):
        Goal.objects.create(owner=alice, site=alice_site, name=name, kind="call", event="x")
    goals = list(Goal.objects.filter(owner=alice))
    for workflow in Workflow.objects.filter(owner=alice):
        for visitor in range(6):
            run(workflow, visitor_id=f"v-{visitor}", held_out=visitor % 2 == 0)
        convert(goals, [f"v-{visitor}" for visitor in range(4)])
        count_not_counted(owner=alice, reason=f"Bot {workflow.pk % 4}", executions=2)
        for n in range(3):
            run(
                workflow,
                ago=timedelta(days=n, hours=n),
                status=("success", "error", "timeout")[n],
                device=("desktop", "mobile", "tablet")[n],
                page_url=f"https://shop.example/page-{n}",
                trigger_name=f"Trigger {n}",
                actions=actions * (n + 1),
            )
    many = queries_per_page(as_alice, urls)

    assert many == few
    # Two of them plan the reads for their own values and set the connection back.
    assert max(few.values()) <= 18, few


def test_a_status_or_device_no_run_of_the_period_has_reads_no_history(as_alice, alice_workflow):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    run(alice_workflow, status="error", device="mobile")
    run(alice_workflow, status="success", device="desktop", ago=timedelta(days=3))
    pages = {
        "/analytics/?range=24h&status=error&device=mobile": 1,
        "/analytics/?range=24h&status=timeout": 0,
        "/analytics/?range=24h&device=desktop": 0,  # it ran, but before the period
        f"/playbooks/{alice_workflow.public_id}/?range=24h&device=tablet": 0,
    }

    for url, expected in pages.items():
        with CaptureQueriesContext(connection) as page:
            history = as_alice.get(url).context["history"]
        history_reads = [
            query
            for query in page.captured_queries
            if '"analytics_execution"."status" = ' in query["sql"]
            or '"analytics_execution"."device_type" = ' in query["sql"]
        ]
        assert (len(history), len(history_reads)) == (expected, expected), url


@pytest.mark.postgres
def test_dashboard_reads_are_planned_for_their_period_and_the_connection_set_back(
    as_alice, alice_workflow
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def plan_cache_mode() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('plan_cache_mode')")
            return cursor.fetchone()[0]

    before = plan_cache_mode()
    for url in ["/", f"/playbooks/{alice_workflow.public_id}/", "/analytics/"]:
        with CaptureQueriesContext(connection) as page:
            assert as_alice.get(url).status_code == 200
        sql = [query["sql"] for query in page.captured_queries]
        planned = [i for i, text in enumerate(sql) if "force_custom_plan" in text]
        executions_read = [i for i, text in enumerate(sql) if "analytics_execution" in text]
        assert planned and executions_read and planned[0] < min(executions_read), url
        assert "set_config('plan_cache_mode'" in sql[-1], url
        assert plan_cache_mode() == before == "auto"


def test_rollup_sums_equal_the_counters(known_data):
    from django.db.models import Sum

    assert HourlyStat.objects.aggregate(total=Sum("executions"))["total"] == known_data.executions


def test_markup_in_names_selectors_and_urls_is_escaped(as_alice, alice, alice_site):
    evil = Workflow.objects.create(owner=alice, site=alice_site, name="<script>alert(1)</script>")
    run(
        evil,
        page_url="https://x.example/<img src=x onerror=alert(2)>",
        actions=[{"name": "<b>x</b>", "selector": "<svg onload=alert(3)>", "error": "<i>e</i>"}],
    )

    pages = ["/", "/playbooks/", "/analytics/", f"/playbooks/{evil.public_id}/"]
    for page in pages:
        content = as_alice.get(page).content
        assert b"<script>alert(1)" not in content
        assert b"<svg onload" not in content
        assert b"<img src=x" not in content
