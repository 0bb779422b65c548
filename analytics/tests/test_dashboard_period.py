"""One period per page drives every figure on it, the chart's bars, the history, the rankings,
the breakdowns and the CSV; one execution can be opened."""

import csv
import random
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from analytics import queries
from analytics.models import Execution
from analytics.services import record_execution
from analytics.tests.helpers import run
from workflows.models import Profile, Workflow

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("choice", "bars", "per"), [("24h", 24, "hour"), ("48h", 48, "hour")])
def test_up_to_48_hours_the_chart_has_a_bar_per_hour(as_alice, known_data, choice, bars, per):
    chart = as_alice.get("/analytics/", {"range": choice}).context["chart"]

    assert len(chart.counts) == bars
    assert chart.summary.startswith(f"Executions per {per}")
    assert all(count.bucket.label.endswith(":00") for count in chart.counts)
    assert sum(count.executions for count in chart.counts) == 3  # today's three


def test_past_48_hours_the_chart_has_a_bar_per_day(as_alice, known_data):
    chart = as_alice.get("/analytics/", {"range": "30d"}).context["chart"]

    assert 30 <= len(chart.counts) <= 31
    assert sum(count.executions for count in chart.counts) == 5


def test_the_period_is_kept_by_every_link_and_the_csv(as_alice, known_data):
    response = as_alice.get(f"/playbooks/{known_data.public_id}/", {"range": "7d"})
    context = response.context

    csv_query = parse_qs(urlsplit(context["csv_url"]).query)
    assert csv_query["range"] == ["7d"]
    for _, url, current in context["period_links"]:
        assert ("range=7d" in url) == current
    rows = list(
        csv.reader(
            b"".join(as_alice.get(context["csv_url"]).streaming_content).decode().splitlines()
        )
    )
    assert len(rows) == 1 + 4  # the page's four
    everything = as_alice.get(context["csv_url"].replace("range=7d", "range=90d"))
    assert len(b"".join(everything.streaming_content).decode().splitlines()) == 1 + 6


def test_the_csv_has_errors_failed_selectors_and_local_times_to_the_second(
    client, alice, alice_workflow
):
    Profile.objects.create(user=alice, time_zone="Asia/Kolkata")
    client.post("/accounts/login/", {"username": "alice", "password": "alice-password"})
    run(
        alice_workflow,
        status="error",
        actions=[
            {"name": "Replace Text", "selector": ".hero", "execution_time_ms": 3},
            {"name": "Hide", "selector": "#popup", "error": "Element not found: #popup"},
            {"name": "Add Class", "selector": ".cta", "error": "Invalid selector: .cta"},
        ],
    )

    response = client.get(f"/playbooks/{alice_workflow.public_id}/executions.csv")
    header, row = list(csv.reader(b"".join(response.streaming_content).decode().splitlines()))
    cells = dict(zip(header, row, strict=True))

    assert cells["error"] == "Element not found: #popup; Invalid selector: .cta"
    assert cells["failedSelectors"] == "#popup .cta"
    executed_at = cells["executedAt"]
    assert executed_at.endswith("+05:30") and "." not in executed_at  # whole seconds, local


def test_rankings_never_list_a_playbook_twice_and_worst_needs_enough_runs(
    as_alice, alice, alice_site
):
    def playbook(name, successes, failures, ms):
        workflow = Workflow.objects.create(owner=alice, site=alice_site, name=name)
        for _ in range(successes):
            run(workflow, ms=ms)
        for _ in range(failures):
            run(workflow, status="error", ms=ms + 1)
        return workflow

    busy_but_failing = playbook("Busy", 30, 10, ms=300)  # the most runs, and the worst rate
    steady = playbook("Steady", 20, 0, ms=50)
    few = playbook("Few", 1, 3, ms=7)  # fails most, but too few runs to rank
    flaky = playbook("Flaky", 9, 1, ms=20)

    rankings = as_alice.get("/analytics/").context["rankings"]

    worst = [row.workflow for row in rankings.worst]
    top = [row.workflow for row in rankings.top]
    assert worst == [busy_but_failing, flaky]
    assert top == [steady, few]  # by successful runs, the worst left out
    assert not set(top) & set(worst)
    medians = {row.workflow.name: row.timing.median_ms for row in rankings.worst + rankings.top}
    assert medians == {"Busy": 300, "Flaky": 20, "Steady": 50, "Few": 8}


def test_ranked_timings_are_the_nearest_rank_percentiles_of_each_playbooks_newest_runs(
    alice, alice_site
):
    """PostgreSQL computes the rankings' timings: they must be what `timing_of` says of the
    same runs, at every sample size, duplicates included, past the sample's limit too."""
    draw = random.Random(7)
    playbooks, expected = [], {}
    for size in (1, 2, 3, 19, 20, 21, 45):
        workflow = Workflow.objects.create(owner=alice, site=alice_site, name=f"{size} runs")
        times = [draw.randint(1, 60) for _ in range(size)]  # newest first
        for minutes, ms in enumerate(times):
            run(workflow, ago=timedelta(minutes=minutes), ms=ms)
        playbooks.append(workflow)
        expected[workflow.pk] = queries.timing_of(times[:20])
    idle = Workflow.objects.create(owner=alice, site=alice_site, name="Never ran")

    found = queries.recent_timings(Execution.objects.filter(owner=alice), [*playbooks, idle], 20)

    assert found == expected | {idle.pk: queries.Timing(None, None, 0)}


def test_a_breakdown_click_filters_the_history(as_alice, alice_workflow):
    for url in [
        "https://shop.example/pricing?utm_source=newsletter&utm_campaign=spring",
        "https://shop.example/pricing",
        "https://shop.example/pricing/plans",
        "https://shop.example/?utm_source=ads",
    ]:
        run(alice_workflow, page_url=url)

    page = as_alice.get("/analytics/").context
    by_name = {breakdown.name: items for breakdown, items in page["breakdowns"]}
    pages = {item.label: item for item in by_name["path"]}
    sources = {item.label: item for item in by_name["utm_source"]}

    assert (pages["/pricing"].count, pages["/pricing/plans"].count, pages["/"].count) == (2, 1, 1)
    assert sources["newsletter"].count == 1 and sources["–"].count == 2
    pricing = as_alice.get("/analytics/" + pages["/pricing"].url.split("#")[0]).context
    assert {execution.page_url for execution in pricing["history"]} == {
        "https://shop.example/pricing?utm_source=newsletter&utm_campaign=spring",
        "https://shop.example/pricing",
    }
    assert [item.label for item in pricing["narrowing"]] == ["Page"]
    newsletter = as_alice.get("/analytics/" + sources["newsletter"].url.split("#")[0]).context
    assert len(newsletter["history"]) == 1


def test_one_execution_opens_with_each_action_and_is_no_one_elses(
    as_alice, client, charlie, alice_workflow
):
    recorded = record_execution(
        owner=alice_workflow.owner,
        site=None,
        workflow_id=alice_workflow.public_id,
        status="error",
        execution_time_ms=321,
        page_url="https://shop.example/pricing",
        device_type="mobile",
        trigger_name="UTM Parameters",
        client_user_id="user-42",
        actions=[
            {"name": "Replace Text", "selector": ".hero", "execution_time_ms": 12},
            {"name": "Hide", "selector": "#popup", "execution_time_ms": 3000,
             "error": "Element not found: #popup"},
        ],
    )  # fmt: skip
    url = f"/executions/{recorded.execution_id}/"

    page = as_alice.get(url)
    history = as_alice.get(f"/playbooks/{alice_workflow.public_id}/")
    client.force_login(charlie)

    assert page.status_code == 200
    for text in [
        "https://shop.example/pricing", "Mobile", "UTM Parameters", "user-42", ".hero", "12 ms",
        "#popup", "3.0 s", "Element not found: #popup", "321 ms",
    ]:  # fmt: skip
        assert text.encode() in page.content, text
    assert url.encode() in history.content  # the history opens it
    assert client.get(url).status_code == 404
    assert client.get("/executions/exec-not-an-id/").status_code == 404
    assert Execution.objects.count() == 1


def test_the_playbook_page_says_what_it_does(as_alice, alice, alice_site):
    workflow = Workflow.objects.create(
        owner=alice,
        site=alice_site,
        name="Newsletter",
        triggers=[{"type": "utm", "params": {"utm_source": "newsletter"}}],
        actions=[
            {"type": "replace_text", "selector": ".hero-title", "text": "Welcome back!"},
            {"type": "add_class", "selector": ".hero", "className": "hero--campaign"},
        ],
    )

    page = as_alice.get(f"/playbooks/{workflow.public_id}/")

    assert page.context["description"] == (
        "When utm_source is newsletter: replace the text of .hero-title with “Welcome back!”;"
        " add the class hero--campaign to .hero."
    )


def test_the_period_of_custom_days_is_dated_in_the_users_time_zone(client, alice, known_data):
    Profile.objects.create(user=alice, time_zone="Pacific/Kiritimati")
    client.post("/accounts/login/", {"username": "alice", "password": "alice-password"})
    today = timezone.localdate()

    period = client.get("/", {"start": today, "end": today}).context["period"]

    assert str(period.start.tzinfo) == "Pacific/Kiritimati"
    assert period.end - period.start == timedelta(days=1)


def test_a_breakdown_says_when_it_counts_only_the_newest_runs(alice_workflow, monkeypatch):
    for path in ("/a", "/b", "/b"):
        run(alice_workflow, page_url=f"https://shop.example{path}")
    executions = Execution.objects.filter(workflow=alice_workflow)

    def by_path(sample: int):
        monkeypatch.setattr("analytics.queries.BREAKDOWN_SAMPLE", sample)
        return {b.name: b for b in queries.newest_runs(executions).breakdowns}["path"]

    whole, newest = by_path(5), by_path(2)

    assert (whole.items, whole.counted, whole.partial) == ([("/b", 2), ("/a", 1)], 3, False)
    assert (newest.counted, newest.partial) == (2, True)


def test_the_newest_runs_timing_and_breakdowns_are_one_read_of_their_own_samples(
    alice_workflow, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr("analytics.queries.TIMING_SAMPLE", 3)
    monkeypatch.setattr("analytics.queries.BREAKDOWN_SAMPLE", 2)
    for minutes, ms, path in ((4, 400, "/old"), (3, 300, "/a"), (2, 200, "/b"), (1, 100, "/b")):
        ago = timedelta(minutes=minutes)
        run(alice_workflow, ago=ago, ms=ms, page_url=f"https://shop.example{path}")
    executions = Execution.objects.filter(workflow=alice_workflow)

    with django_assert_num_queries(1):
        newest = queries.newest_runs(executions)

    assert (newest.timing.sample, newest.timing.median_ms, newest.timing.p95_ms) == (3, 200, 300)
    # The oldest run (400 ms, /old) is in neither sample.
    by_path = {b.name: b for b in newest.breakdowns}["path"]
    assert (by_path.items, by_path.counted) == ([("/b", 2)], 2)


def test_a_breakdown_click_shows_the_runs_the_breakdown_counted(
    as_alice, alice_workflow, monkeypatch
):
    monkeypatch.setattr("analytics.queries.BREAKDOWN_SAMPLE", 2)
    run(alice_workflow, page_url="https://shop.example/old", ago=timedelta(hours=3))
    run(alice_workflow, page_url="https://shop.example/new", ago=timedelta(hours=2))
    run(alice_workflow, page_url="https://shop.example/new", ago=timedelta(hours=1))

    page = as_alice.get("/analytics/").context
    by_page = next(items for breakdown, items in page["breakdowns"] if breakdown.name == "path")
    older = as_alice.get("/analytics/?path=/old")
    newer = as_alice.get("/analytics/?path=/new")
    csv_response = as_alice.get("/analytics/executions.csv?path=/new")
    csv_rows = b"".join(csv_response.streaming_content).decode().splitlines()

    assert [item.label for item in by_page] == ["/new"]  # the oldest run is not counted...
    assert older.context["history"] == []  # ...and not shown by a click on its page
    assert len(newer.context["history"]) == 2
    assert "among the period's newest 2 runs" in newer.content.decode()
    assert len(csv_rows) == 1 + 2
