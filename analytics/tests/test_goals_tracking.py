"""Conversions, exposures and the lift tallies: each counted exactly once, whatever the order
of delivery, the retries and the bots."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from analytics.models import (
    Attribution,
    Conversion,
    Execution,
    Exposure,
    GoalDailyStat,
    LiftTally,
    NotCounted,
)
from analytics.tests.agents import GOOGLEBOT
from analytics.tests.helpers import execution_body, post_conversion, post_execution
from workflows.models import Goal, Site, Workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def signup(alice, alice_site):
    return Goal.objects.create(
        owner=alice, site=alice_site, name="Signed up", kind="call", event="signup"
    )


def conversion(goal, visitor="visitor-1", **overrides):
    return {"goalId": str(goal.public_id), "visitorId": visitor, **overrides}


def exposed(client, workflow, visitor="visitor-1", **overrides):
    body = execution_body(workflow, visitorId=visitor, **overrides)
    return post_execution(client, body, site=workflow.site)


def held_out(client, workflow, visitor="visitor-1", **overrides):
    body = execution_body(
        workflow, visitorId=visitor, heldOut=True, actions=[], executionTimeMs=0, **overrides
    )
    return post_execution(client, body, site=workflow.site)


def tallies(workflow, goal) -> dict[bool, int]:
    rows = LiftTally.objects.filter(workflow=workflow, goal=goal)
    return {row.held_out: row.converters for row in rows}


def test_a_conversion_is_counted_once_per_visitor_goal_and_day(client, signup):
    first = post_conversion(client, conversion(signup, conversionId="c-1"), site=signup.site)
    again = post_conversion(client, conversion(signup, conversionId="c-2"), site=signup.site)

    assert first.status_code == 201
    assert first.json() == {"success": True, "conversionId": "c-1", "message": "Conversion tracked"}
    assert again.status_code == 200
    assert again.json()["message"] == "Conversion already counted for this visitor today"
    assert Conversion.objects.count() == 1
    assert GoalDailyStat.objects.get(goal=signup).conversions == 1

    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    late = post_conversion(client, conversion(signup, occurredAt=yesterday), site=signup.site)
    assert late.status_code == 201  # another day
    assert sorted(GoalDailyStat.objects.values_list("conversions", flat=True)) == [1, 1]


def test_an_exposure_is_counted_once_per_playbook_and_visitor(client, alice_workflow):
    assert exposed(client, alice_workflow, executionId="run-1").status_code == 201
    assert exposed(client, alice_workflow, executionId="run-1").status_code == 200  # resend
    assert exposed(client, alice_workflow, executionId="run-2").status_code == 201  # new run

    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 2
    assert (alice_workflow.exposed_visitors, alice_workflow.held_out_visitors) == (1, 0)
    assert Exposure.objects.get().held_out is False


def test_a_held_out_run_is_an_exposure_not_an_execution(client, alice_workflow):
    response = held_out(client, alice_workflow)
    again = held_out(client, alice_workflow)

    assert response.status_code == 201
    assert response.json() == {
        "success": True,
        "executionId": None,
        "message": "Held-out run tracked",
    }
    assert again.status_code == 200
    assert not Execution.objects.exists()
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 0 and alice_workflow.last_run is None
    assert (alice_workflow.exposed_visitors, alice_workflow.held_out_visitors) == (0, 1)
    # Assigned for good: a later run from the same visitor does not move them to the other group.
    exposed(client, alice_workflow)
    alice_workflow.refresh_from_db()
    assert (alice_workflow.exposed_visitors, alice_workflow.held_out_visitors) == (0, 1)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"heldOut": True, "visitorId": "v-1"}, "actions"),  # actions applied
        ({"heldOut": True, "actions": []}, "visitorId"),  # held out for nobody
        ({"visitorId": "not an id!"}, "visitorId"),
        ({"visitorId": "v" * 65}, "visitorId"),
        ({"heldOut": "perhaps"}, "heldOut"),
    ],
)
def test_bad_exposures_are_refused_naming_the_field(client, alice_workflow, overrides, field):
    response = post_execution(
        client, execution_body(alice_workflow, **overrides), site=alice_workflow.site
    )

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Execution.objects.exists() and not Exposure.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"goalId": None}, 400, "goalId"),
        ({"goalId": "42", "visitorId": "v-1"}, 400, "goalId"),
        ({"goalId": "00000000-0000-4000-8000-000000000000", "visitorId": "v-1"}, 404, "goalId"),
        ({"visitorId": ""}, 400, "visitorId"),
        ({"visitorId": "v\x00"}, 400, "visitorId"),
        ({"occurredAt": "2999-01-01T00:00:00Z"}, 400, "occurredAt"),
        ({"occurredAt": "2001-01-01T00:00:00Z"}, 400, "occurredAt"),
        ({"pageUrl": "javascript:alert(1)"}, 400, "pageUrl"),
        ({"conversions": []}, 400, "conversions"),
    ],
)
def test_bad_conversions_are_refused_naming_the_field(client, signup, body, status, field):
    payload = {**conversion(signup), **body} if "conversions" not in body else body

    response = post_conversion(client, payload, site=signup.site)

    assert response.status_code == status, response.content
    assert field in response.json()["errors"]
    assert not Conversion.objects.exists()


def test_conversions_need_the_goals_own_site_key_and_origin(client, signup, charlie_site):
    no_key = post_conversion(client, conversion(signup))
    wrong_site = post_conversion(client, conversion(signup), site=charlie_site)
    wrong_origin = post_conversion(
        client, conversion(signup), site=signup.site, HTTP_ORIGIN="https://evil.example"
    )

    assert no_key.status_code == 401
    assert wrong_site.status_code == 404 and "goalId" in wrong_site.json()["errors"]
    assert wrong_origin.status_code == 403
    assert not Conversion.objects.exists()


def test_a_conversion_batch_answers_each_item(client, signup, alice_workflow):
    other = Goal.objects.create(
        owner=signup.owner, site=signup.site, name="Pricing", kind="page", match="equals", path="/p"
    )
    batch = {
        "conversions": [
            conversion(signup, "v-1"),
            conversion(signup, "v-1"),  # the same visitor, goal and day
            conversion(other, "v-1"),
            {"goalId": "00000000-0000-4000-8000-000000000000", "visitorId": "v-1"},
            {"goalId": str(signup.public_id)},  # no visitor
        ]
    }

    response = post_conversion(client, {**batch, "siteKey": signup.site.site_key})

    body = response.json()
    assert response.status_code == 200
    assert [result["status"] for result in body["results"]] == [201, 201, 201, 404, 400]
    assert (body["recorded"], body["failed"]) == (3, 2)
    assert Conversion.objects.count() == 2


def test_a_conversion_after_an_exposure_is_credited_to_the_playbook(client, alice_workflow, signup):
    exposed(client, alice_workflow, "v-exposed")
    held_out(client, alice_workflow, "v-held")
    for visitor in ("v-exposed", "v-held", "v-never-exposed"):
        post_conversion(client, conversion(signup, visitor), site=signup.site)

    assert tallies(alice_workflow, signup) == {False: 1, True: 1}
    # Another day's conversion by the same visitor does not count them twice.
    tomorrow_is_today = (timezone.now() - timedelta(hours=25)).isoformat()
    post_conversion(
        client, conversion(signup, "v-exposed", occurredAt=tomorrow_is_today), site=signup.site
    )
    assert tallies(alice_workflow, signup) == {False: 1, True: 1}


def test_a_conversion_delivered_before_its_exposure_is_credited_when_the_exposure_arrives(
    client, alice_workflow, signup
):
    ran_at = timezone.now() - timedelta(minutes=5)
    post_conversion(client, conversion(signup, "v-1"), site=signup.site)  # converted just now
    assert tallies(alice_workflow, signup) == {}

    exposed(client, alice_workflow, "v-1", startedAt=ran_at.isoformat())

    assert tallies(alice_workflow, signup) == {False: 1}
    assert Attribution.objects.count() == 1


def test_a_conversion_before_the_exposure_is_not_credited(client, alice_workflow, signup):
    converted_at = timezone.now() - timedelta(minutes=5)
    post_conversion(
        client, conversion(signup, "v-1", occurredAt=converted_at.isoformat()), site=signup.site
    )
    exposed(client, alice_workflow, "v-1")  # ran just now, after the conversion

    assert tallies(alice_workflow, signup) == {}


def test_a_goal_of_another_site_is_not_credited(client, alice, alice_workflow):
    elsewhere = Site.objects.create(owner=alice, name="Blog")
    goal = Goal.objects.create(owner=alice, site=elsewhere, name="Read", kind="call", event="read")
    exposed(client, alice_workflow, "v-1")
    post_conversion(client, conversion(goal, "v-1"), site=elsewhere)

    assert Conversion.objects.count() == 1
    assert tallies(alice_workflow, goal) == {}


def test_known_bots_are_not_counted_and_the_drop_is(client, alice_workflow, signup):
    execution = post_execution(
        client, execution_body(alice_workflow, visitorId="v-1"), site=alice_workflow.site,
        HTTP_USER_AGENT=GOOGLEBOT,
    )  # fmt: skip
    batch = post_execution(
        client,
        {
            "siteKey": alice_workflow.site.site_key,
            "executions": [execution_body(alice_workflow)] * 3,
        },
        HTTP_USER_AGENT=GOOGLEBOT,
    )
    converted = post_conversion(
        client, conversion(signup), site=signup.site, HTTP_USER_AGENT="curl/8.5.0"
    )

    assert execution.status_code == batch.status_code == converted.status_code == 200
    assert execution.json() == {
        "success": True,
        "executionId": None,
        "counted": False,
        "message": "Not counted: Googlebot is a known bot.",
    }
    assert not Execution.objects.exists() and not Exposure.objects.exists()
    assert not Conversion.objects.exists()
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 0
    dropped = {row.reason: (row.executions, row.conversions) for row in NotCounted.objects.all()}
    assert dropped == {"Googlebot": (4, 0), "curl": (0, 1)}
    assert NotCounted.objects.get(reason="Googlebot").owner == alice_workflow.owner


def test_a_bot_with_a_wrong_key_is_refused_like_anyone(client, alice_workflow):
    response = post_execution(
        client,
        execution_body(alice_workflow),
        HTTP_X_SITE_KEY="sk_unknown",
        HTTP_USER_AGENT=GOOGLEBOT,
    )

    assert response.status_code == 401
    assert not NotCounted.objects.exists()


def test_integrations_with_a_token_are_not_taken_for_bots(client, alice_workflow):
    token = Token.objects.create(user=alice_workflow.owner)

    response = post_execution(
        client, execution_body(alice_workflow), HTTP_AUTHORIZATION=f"Token {token.key}",
        HTTP_USER_AGENT="python-requests/2.32",
    )  # fmt: skip

    assert response.status_code == 201


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_count_each_visitor_once(alice, alice_site):
    """Exposures and conversions of the same visitors, sent at once from many threads, in both
    orders: each visitor is counted once per group and credited once per goal."""
    workflow = Workflow.objects.create(
        owner=alice, site=alice_site, name="Hero", actions=[{"type": "hide", "selector": ".x"}]
    )
    goal = Goal.objects.create(owner=alice, site=alice_site, name="Buy", kind="call", event="buy")
    visitors = [f"v-{n}" for n in range(12)]
    ran_at = (timezone.now() - timedelta(minutes=1)).isoformat()
    barrier = threading.Barrier(24)
    failures = []

    def send(post):
        from django.test import Client

        try:
            barrier.wait()
            for visitor in visitors:
                post(Client(), visitor)
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            connection.close()

    def expose(client, visitor):
        body = execution_body(workflow, visitorId=visitor, startedAt=ran_at)
        assert post_execution(client, body, site=alice_site).status_code == 201

    def convert(client, visitor):
        response = post_conversion(client, conversion(goal, visitor), site=alice_site)
        assert response.status_code in (200, 201)

    threads = [threading.Thread(target=send, args=(expose,)) for _ in range(12)]
    threads += [threading.Thread(target=send, args=(convert,)) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures
    workflow.refresh_from_db()
    assert workflow.executions == 144
    assert workflow.exposed_visitors == Exposure.objects.count() == 12
    assert Conversion.objects.count() == 12
    assert GoalDailyStat.objects.get(goal=goal).conversions == 12
    assert Attribution.objects.count() == 12
    assert tallies(workflow, goal) == {False: 12}
