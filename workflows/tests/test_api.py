from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.services import record_execution
from workflows.models import Site, Workflow

pytestmark = pytest.mark.django_db

TRIGGERS = [{"type": "utm", "params": {"utm_source": "newsletter"}}]
ACTIONS = [{"type": "replace_text", "selector": ".hero-title", "text": "Hello"}]


@pytest.fixture
def as_alice(api_client, alice):
    api_client.force_authenticate(alice)
    return api_client


def test_anonymous_requests_are_refused(api_client, alice_workflow):
    assert api_client.get("/api/workflows/").status_code in (401, 403)
    assert api_client.get(f"/api/workflows/{alice_workflow.public_id}/").status_code in (401, 403)
    assert api_client.get("/api/sites/").status_code in (401, 403)


def test_the_list_shows_only_my_workflows_with_counter_and_last_run(
    as_alice, alice_workflow, charlie_workflow
):
    record_execution(
        owner=alice_workflow.owner,
        site=None,
        workflow_id=alice_workflow.public_id,
        status="success",
        execution_time_ms=12,
    )

    response = as_alice.get("/api/workflows/")

    assert response.status_code == 200
    items = response.json()["results"]
    assert [item["id"] for item in items] == [str(alice_workflow.public_id)]
    assert items[0]["executions"] == 1
    assert items[0]["lastRun"] is not None
    assert items[0]["site"] == str(alice_workflow.site.public_id)


def test_i_can_create_a_workflow_on_my_site(as_alice, alice, alice_site):
    response = as_alice.post(
        "/api/workflows/",
        {
            "name": "Newsletter headline",
            "site": str(alice_site.public_id),
            "triggerMatch": "any",
            "triggers": TRIGGERS,
            "actions": ACTIONS,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    workflow = Workflow.objects.get(public_id=response.json()["id"])
    assert workflow.owner == alice
    assert workflow.trigger_match == "any"
    assert workflow.triggers == TRIGGERS
    assert (workflow.executions, workflow.last_run) == (0, None)


def test_counters_and_owner_in_the_body_are_ignored(as_alice, alice, alice_site, charlie):
    response = as_alice.post(
        "/api/workflows/",
        {
            "name": "Sneaky",
            "site": str(alice_site.public_id),
            "actions": [{"type": "hide", "selector": ".popup"}],
            "executions": 10**6,
            "lastRun": "2030-01-01T00:00:00Z",
            "owner": charlie.pk,
        },
        format="json",
    )

    assert response.status_code == 201
    workflow = Workflow.objects.get(name="Sneaky")
    assert (workflow.owner, workflow.executions, workflow.last_run) == (alice, 0, None)


def test_i_cannot_put_a_workflow_on_someone_elses_site(as_alice, charlie_site):
    response = as_alice.post(
        "/api/workflows/",
        {"name": "Hijack", "site": str(charlie_site.public_id)},
        format="json",
    )

    assert response.status_code == 400
    assert "site" in response.json()
    assert not Workflow.objects.filter(name="Hijack").exists()


def test_invalid_triggers_and_actions_are_refused_with_clear_messages(as_alice, alice_site):
    response = as_alice.post(
        "/api/workflows/",
        {
            "name": "Broken",
            "site": str(alice_site.public_id),
            "triggers": [{"type": "scroll_depth", "percent": 180}],
            "actions": [{"type": "explode", "selector": "body"}],
        },
        format="json",
    )

    assert response.status_code == 400
    errors = response.json()
    assert errors["triggers"] == [
        "Trigger 1 (scroll_depth), percent: Enter a number from 0 to 100."
    ]
    assert "Action 1: unknown type 'explode'" in errors["actions"][0]


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        (None, "This field is required."),
        ([], "Add at least one action: a playbook without one changes nothing."),
        ([{"type": "hide", "selector": "h1::before"}], "Pseudo-elements such as ::before"),
        ([{"type": "replace_text", "selector": "h1", "text": ""}], "Enter the text to show."),
    ],
)
def test_a_workflow_needs_an_action_that_can_work(as_alice, alice_site, actions, message):
    body = {"name": "Empty", "site": str(alice_site.public_id), "triggers": []}
    if actions is not None:
        body["actions"] = actions

    response = as_alice.post("/api/workflows/", body, format="json")

    assert response.status_code == 400
    assert message in response.json()["actions"][0]
    assert not Workflow.objects.filter(name="Empty").exists()


def test_i_can_pause_rename_and_delete_my_workflow(as_alice, alice_workflow):
    url = f"/api/workflows/{alice_workflow.public_id}/"

    paused = as_alice.patch(url, {"status": "paused", "name": "Renamed"}, format="json")
    deleted = as_alice.delete(url)

    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    assert paused.json()["name"] == "Renamed"
    assert deleted.status_code == 204
    assert not Workflow.objects.exists()


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_another_users_workflow_is_404(as_alice, charlie_workflow, method):
    url = f"/api/workflows/{charlie_workflow.public_id}/"

    response = getattr(as_alice, method)(url, {"name": "Mine now"}, format="json")

    assert response.status_code == 404
    charlie_workflow.refresh_from_db()
    assert charlie_workflow.name == "Charlie's banner"


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_another_users_site_is_404(as_alice, charlie_site, method):
    response = getattr(as_alice, method)(
        f"/api/sites/{charlie_site.public_id}/", {"name": "Mine now"}, format="json"
    )

    assert response.status_code == 404
    assert Site.objects.get(pk=charlie_site.pk).name == "Charlie's blog"


def test_the_history_is_paginated_and_newest_first(as_alice, alice_workflow):
    now = timezone.now()
    for minutes in (30, 10, 20):
        record_execution(
            owner=alice_workflow.owner,
            site=None,
            workflow_id=alice_workflow.public_id,
            status="success",
            execution_time_ms=minutes,
            started_at=now - timedelta(minutes=minutes),
            actions=[{"name": "Hide", "selector": ".popup", "execution_time_ms": 1}],
        )

    response = as_alice.get(f"/api/workflows/{alice_workflow.public_id}/executions/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [item["executionTimeMs"] for item in body["results"]] == [10, 20, 30]
    assert body["results"][0]["actions"][0]["selector"] == ".popup"
    assert body["results"][0]["executionId"].startswith("exec-")


def test_the_history_runs_a_bounded_number_of_queries(
    as_alice, alice_workflow, django_assert_max_num_queries
):
    for _ in range(30):
        record_execution(
            owner=alice_workflow.owner,
            site=None,
            workflow_id=alice_workflow.public_id,
            status="success",
            execution_time_ms=5,
            actions=[{"name": "Hide", "selector": ".popup"}],
        )

    # Two of them plan the reads for their own values and set the connection back.
    with django_assert_max_num_queries(7):
        response = as_alice.get(f"/api/workflows/{alice_workflow.public_id}/executions/")

    assert len(response.json()["results"]) == 30


def test_another_users_history_is_404(as_alice, charlie_workflow):
    response = as_alice.get(f"/api/workflows/{charlie_workflow.public_id}/executions/")

    assert response.status_code == 404


def test_creating_a_site_returns_its_key_and_normalized_origins(as_alice, alice):
    response = as_alice.post(
        "/api/sites/",
        {"name": "Store", "allowedOrigins": ["HTTPS://Store.Example:443", "http://localhost:3000"]},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["siteKey"].startswith("sk_")
    assert sorted(body["allowedOrigins"]) == ["http://localhost:3000", "https://store.example"]
    site = Site.objects.get(public_id=body["id"])
    assert site.owner == alice
    assert site.site_key == body["siteKey"]


@pytest.mark.parametrize(
    "origin", ["store.example", "https://store.example/path", "javascript:alert(1)", "ftp://x.y"]
)
def test_origins_must_be_http_origins(as_alice, origin):
    response = as_alice.post(
        "/api/sites/", {"name": "Store", "allowedOrigins": [origin]}, format="json"
    )

    assert response.status_code == 400
    assert "allowedOrigins" in response.json()
    assert not Site.objects.exists()


def test_the_site_key_cannot_be_chosen_by_the_client(as_alice):
    response = as_alice.post(
        "/api/sites/", {"name": "Store", "siteKey": "sk_guessable"}, format="json"
    )

    assert response.json()["siteKey"] != "sk_guessable"


def test_the_token_command_gives_a_working_token(alice, alice_workflow, api_client):
    from django.core.management import call_command

    call_command("drf_create_token", "alice")
    from rest_framework.authtoken.models import Token

    token = Token.objects.get(user=alice)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert api_client.get("/api/workflows/").json()["count"] == 1
