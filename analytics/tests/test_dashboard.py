import csv
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from analytics.models import HourlyStat
from analytics.services import record_execution
from workflows.models import Profile, Workflow

pytestmark = pytest.mark.django_db


def earlier_today() -> timedelta:
    """How long ago 'a few minutes ago' is, kept within today even just after midnight."""
    now = timezone.localtime()
    return min(timedelta(minutes=5), (now - now.replace(hour=0, minute=0, second=0)) / 2)


def run(workflow, *, ago=None, status="success", ms=100, device="desktop", **kw):
    return record_execution(
        owner=workflow.owner,
        site=None,
        workflow_id=workflow.public_id,
        status=status,
        execution_time_ms=ms,
        device_type=device,
        started_at=timezone.now() - (earlier_today() if ago is None else ago),
        **kw,
    )


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def known_data(alice_workflow):
    """Alice's playbook: 3 runs today, 1 error 3 days ago, 1 timeout 20 days ago, 1 at 40 days."""
    for ms in (10, 20, 30):
        run(alice_workflow, ms=ms, device="mobile", trigger_name="Device Type")
    run(alice_workflow, ago=timedelta(days=3), status="error", ms=400, trigger_name="Device Type")
    run(alice_workflow, ago=timedelta(days=20), status="timeout", ms=9000, device="tablet")
    run(alice_workflow, ago=timedelta(days=40), ms=50)
    alice_workflow.refresh_from_db()
    return alice_workflow


def test_the_overview_shows_exact_counts_for_known_data(as_alice, known_data):
    response = as_alice.get("/")

    assert response.status_code == 200
    context = response.context
    assert context["counts"] == {"today": 3, "week": 4, "month": 5}
    assert context["month_totals"].executions == 5
    assert context["month_totals"].success_rate == pytest.approx(60.0)
    assert context["timing"].median_ms == 30
    assert context["timing"].p95_ms == 9000
    assert context["active_playbooks"] == 1
    assert [row.totals.executions for row in context["top"]] == [4]
    assert len(context["feed"]) == 6
    assert b'id="count-today">3<' in response.content


def test_the_playbook_page_shows_its_counter_breakdowns_and_history(as_alice, known_data):
    response = as_alice.get(f"/playbooks/{known_data.public_id}/")

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
    assert {s.label: s.count for s in context["triggers"]}["Device Type"] == 4
    assert len(context["history"]) == 6
    assert context["chart"].peak == 3


def test_history_filters_by_status_device_and_dates(as_alice, known_data):
    url = f"/playbooks/{known_data.public_id}/"

    errors = as_alice.get(url, {"status": "error"}).context["history"]
    mobile = as_alice.get(url, {"device": "mobile"}).context["history"]
    today = timezone.localdate()
    recent = as_alice.get(url, {"start": today - timedelta(days=4), "end": today}).context[
        "history"
    ]

    assert [e.status for e in errors] == ["error"]
    assert len(mobile) == 3
    assert len(recent) == 4


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
    assert change.executions_percent is None
    month = as_alice.get("/analytics/", {"range": "30d"}).context
    assert month["totals"].executions == 5
    assert month["change"].previous.executions == 1
    assert month["change"].executions_percent == pytest.approx(400.0)
    assert [row.workflow for row in month["worst"]] == [known_data]


def test_a_custom_range_counts_whole_days(as_alice, known_data):
    today = timezone.localdate()

    response = as_alice.get(
        "/analytics/",
        {"range": "custom", "start": today - timedelta(days=21), "end": today - timedelta(days=2)},
    )

    assert response.context["totals"].executions == 2


def test_a_backwards_custom_range_is_explained(as_alice, known_data):
    response = as_alice.get(
        "/analytics/", {"range": "custom", "start": "2026-02-10", "end": "2026-02-01"}
    )

    assert b"The end date is before the start date." in response.content


def test_the_playbook_list_sorts_and_searches(as_alice, alice, alice_site, known_data):
    other = Workflow.objects.create(owner=alice, site=alice_site, name="Another one")
    run(other)

    by_runs = as_alice.get("/playbooks/", {"sort": "executions"}).context["rows"]
    found = as_alice.get("/playbooks/", {"q": "anoth"}).context["rows"]

    assert [row.workflow.name for row in by_runs] == [known_data.name, "Another one"]
    assert [row.workflow.name for row in found] == ["Another one"]
    assert by_runs[0].totals.executions == 5


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
    assert b'id="count-today">1<' in changed.content


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
    assert len(rows) == 1 + 5
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


@pytest.mark.parametrize("url", ["/", "/playbooks/", "/analytics/"])
def test_dashboard_pages_run_a_bounded_number_of_queries(
    as_alice, alice, alice_site, url, django_assert_max_num_queries
):
    for index in range(40):
        workflow = Workflow.objects.create(owner=alice, site=alice_site, name=f"Playbook {index}")
        for _ in range(3):
            run(workflow, actions=[{"name": "Hide", "selector": ".x", "execution_time_ms": 2}])

    with django_assert_max_num_queries(25):
        response = as_alice.get(url)

    assert response.status_code == 200


def test_the_playbook_page_runs_a_bounded_number_of_queries(
    as_alice, alice_workflow, django_assert_max_num_queries
):
    for _ in range(60):
        run(alice_workflow, actions=[{"name": "Hide", "selector": ".x", "execution_time_ms": 2}])

    with django_assert_max_num_queries(20):
        response = as_alice.get(f"/playbooks/{alice_workflow.public_id}/")

    assert response.status_code == 200
    assert response.context["actions"][0].count == 60


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
