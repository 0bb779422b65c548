"""Lift where marketers read it: the playbook page, the ranking on the goals page, the REST
API; and what bots sent, on the goals and Analytics pages."""

import pytest

from analytics.services import count_not_counted
from analytics.tests.helpers import convert, run
from workflows.models import Goal, Workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def experiment(alice, alice_site):
    """A playbook with 400 exposed visitors (80 converted) and 200 held out (20 converted),
    one without enough data, and one without a holdout group."""
    goal = Goal.objects.create(owner=alice, site=alice_site, name="Buy", kind="call", event="buy")
    clear = Workflow.objects.create(owner=alice, site=alice_site, name="Clear", holdout_percent=33)
    small = Workflow.objects.create(owner=alice, site=alice_site, name="Small", holdout_percent=10)
    Workflow.objects.create(owner=alice, site=alice_site, name="No holdout")
    for number in range(600):
        run(clear, visitor_id=f"c-{number}", held_out=number >= 400)
    for number in range(30):
        run(small, visitor_id=f"s-{number}", held_out=number < 3)
    convert([goal], [f"c-{n}" for n in range(80)] + [f"c-{n}" for n in range(400, 420)])
    return clear, small, goal


def test_the_playbook_page_shows_its_lift_on_each_goal(as_alice, experiment):
    clear, small, _ = experiment

    page = as_alice.get(f"/playbooks/{clear.public_id}/").content.decode()
    (row,) = as_alice.get(f"/playbooks/{clear.public_id}/").context["lift"]

    assert (row.lift.exposed_visitors, row.lift.exposed_converters) == (400, 80)
    assert (row.lift.held_out_visitors, row.lift.held_out_converters) == (200, 20)
    assert row.lift.lift == pytest.approx(1.0)  # 20% against 10%
    assert "+100.0%" in page and "Helps" in page and "33% of visitors are held out" in page
    small_page = as_alice.get(f"/playbooks/{small.public_id}/").content.decode()
    assert "Not enough data yet: each group needs 100 visitors and 5 conversions" in small_page


def test_a_playbook_without_a_holdout_says_how_to_measure_it(as_alice, alice, experiment):
    plain = Workflow.objects.get(name="No holdout")

    page = as_alice.get(f"/playbooks/{plain.public_id}/").content.decode()

    assert "No holdout group" in page and "Helps" not in page


def test_the_goals_page_ranks_playbooks_by_lift_and_counts_conversions(as_alice, experiment):
    response = as_alice.get("/goals/")

    ranking = response.context["ranking"]
    assert [(row.workflow.name, row.lift.enough) for row in ranking] == [
        ("Clear", True),
        ("Small", False),
    ]
    (goal,) = response.context["goals"]
    assert (goal.recent, goal.total) == (100, 100)


def test_the_api_answers_lift_per_playbook_and_the_ranking(api_client, alice, charlie, experiment):
    clear, _, goal = experiment
    api_client.force_authenticate(alice)

    (lift,) = api_client.get(f"/api/workflows/{clear.public_id}/lift/").json()
    ranking = api_client.get("/api/lift/").json()

    assert lift["goal"] == str(goal.public_id)
    assert (lift["exposedVisitors"], lift["exposedConverters"]) == (400, 80)
    assert (lift["heldOutVisitors"], lift["heldOutConverters"]) == (200, 20)
    assert lift["lift"] == pytest.approx(1.0) and lift["low"] > 0 and lift["significant"] is True
    assert lift["pValue"] < 0.01
    assert [row["playbookName"] for row in ranking] == ["Clear", "Small"]
    assert ranking[1]["message"].startswith("Not enough data yet")
    api_client.force_authenticate(charlie)
    assert api_client.get(f"/api/workflows/{clear.public_id}/lift/").status_code == 404
    assert api_client.get("/api/lift/").json() == []


def test_bots_dropped_show_by_name_to_their_owner_only(as_alice, client, charlie, alice):
    count_not_counted(owner=alice, reason="Googlebot", executions=7)
    count_not_counted(owner=alice, reason="Googlebot", conversions=2)
    count_not_counted(owner=alice, reason="AhrefsBot", executions=1)

    for url in ("/goals/", "/analytics/"):
        rows = as_alice.get(url).context["not_counted"]
        assert [(r.reason, r.executions, r.conversions) for r in rows] == [
            ("Googlebot", 7, 2),
            ("AhrefsBot", 1, 0),
        ]
    client.force_login(charlie)
    assert client.get("/goals/").context["not_counted"] == []


def test_the_goals_page_shows_the_first_of_a_long_ranking_and_says_so(
    as_alice, experiment, monkeypatch
):
    monkeypatch.setattr("analytics.views.LIFT_ROWS", 1)

    response = as_alice.get("/goals/")

    assert [row.workflow.name for row in response.context["ranking"]] == ["Clear"]
    assert "The first 1 of 2" in response.content.decode()
