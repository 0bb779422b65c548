import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from analytics.models import AnalyticsEvent, Execution
from analytics.tests.helpers import TRACK_URL, execution_body, post_execution
from workflows.models import Site, Workflow

pytestmark = pytest.mark.django_db


def test_it_records_the_spec_example_and_answers_the_spec_response(client, alice_workflow):
    response = post_execution(client, execution_body(alice_workflow), site=alice_workflow.site)

    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Workflow execution tracked successfully"
    assert body["executionId"].startswith("exec-")

    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 1
    assert alice_workflow.last_run is not None
    execution = Execution.objects.get()
    assert execution.execution_id == body["executionId"]
    assert execution.owner == alice_workflow.owner
    assert execution.workflow == alice_workflow
    assert execution.status == "success"
    assert execution.execution_time_ms == 250
    assert execution.page_url == "https://shop.example/pricing"
    assert execution.session_id == "session-123"
    assert execution.device_type == "desktop"
    assert execution.trigger_name == "UTM Parameters"
    assert execution.client_user_id == "user-456"
    assert execution.executed_at == alice_workflow.last_run

    event = AnalyticsEvent.objects.get()
    assert event.execution == execution
    assert event.workflow == alice_workflow
    assert event.event_type == "action_executed"
    assert event.element_selector == ".hero-title"
    assert event.page_url == "https://shop.example/pricing"
    assert event.event_data == {
        "name": "Replace Text",
        "config": {"newText": "Special Offer!"},
        "executionTimeMs": 45,
        "error": "",
    }


def test_it_stores_one_event_per_action_and_marks_failed_actions(client, alice_workflow):
    actions = [
        {"name": "Replace Text", "selector": ".title", "executionTimeMs": 4},
        {"name": "Add Class", "selector": ".missing", "executionTimeMs": 500, "error": "Not found"},
        {"name": "Hide", "selector": ".popup", "executionTimeMs": 1},
    ]
    body = execution_body(alice_workflow, status="error", actions=actions)

    response = post_execution(client, body, site=alice_workflow.site)

    assert response.status_code == 201
    events = list(AnalyticsEvent.objects.order_by("pk"))
    assert [e.element_selector for e in events] == [".title", ".missing", ".popup"]
    assert [e.event_type for e in events] == ["action_executed", "action_failed", "action_executed"]
    assert events[1].event_data["error"] == "Not found"
    assert Execution.objects.get().status == "error"


def test_only_workflow_id_status_and_time_are_required(client, alice_workflow):
    body = {"workflowId": str(alice_workflow.public_id), "status": "timeout", "executionTimeMs": 9}

    response = post_execution(client, body, site=alice_workflow.site)

    assert response.status_code == 201
    execution = Execution.objects.get()
    assert (execution.status, execution.device_type, execution.page_url) == ("timeout", "", "")
    assert not AnalyticsEvent.objects.exists()


def test_a_beacon_sends_text_plain_with_the_site_key_in_the_body(client, alice_workflow):
    body = execution_body(alice_workflow, siteKey=alice_workflow.site.site_key)

    response = post_execution(client, body, content_type="text/plain;charset=UTF-8")

    assert response.status_code == 201
    assert Workflow.objects.get().executions == 1


def test_the_owner_can_track_with_an_api_token(client, alice, alice_workflow):
    token = Token.objects.create(user=alice)

    response = post_execution(
        client, execution_body(alice_workflow), HTTP_AUTHORIZATION=f"Token {token.key}"
    )

    assert response.status_code == 201
    assert Execution.objects.get().owner == alice


def test_without_credentials_it_answers_401_and_stores_nothing(client, alice_workflow):
    response = post_execution(client, execution_body(alice_workflow))

    assert response.status_code == 401
    assert response.json()["success"] is False
    assert "siteKey" in response.json()["errors"]
    assert not Execution.objects.exists()


def test_an_unknown_site_key_answers_401(client, alice_workflow):
    response = post_execution(
        client, execution_body(alice_workflow), HTTP_X_SITE_KEY="sk_not-a-real-key"
    )

    assert response.status_code == 401
    assert response.json() == {"success": False, "errors": {"siteKey": ["Unknown site key."]}}
    assert Workflow.objects.get().executions == 0


@pytest.mark.parametrize("batch", [False, True])
def test_the_key_of_a_deactivated_owners_site_answers_401(client, alice, alice_workflow, batch):
    alice.is_active = False
    alice.save()
    body = execution_body(alice_workflow)
    response = post_execution(
        client, {"executions": [body]} if batch else body, site=alice_workflow.site
    )

    assert response.status_code == 401
    assert response.json() == {"success": False, "errors": {"siteKey": ["Unknown site key."]}}
    assert not Execution.objects.exists()


def test_a_site_is_found_by_its_key_in_one_query_with_its_owner_loaded_on_use(
    alice_site, charlie_site, django_assert_num_queries
):
    with django_assert_num_queries(1):
        site = Site.objects.by_key(alice_site.site_key)
        assert (site, site.owner, site.owner.is_active) == (alice_site, alice_site.owner, True)
        assert site.origin_allowed is None
    assert "username" in site.owner.get_deferred_fields()
    with django_assert_num_queries(1):
        assert site.owner.username == "alice"

    assert Site.objects.by_key(alice_site.site_key, "https://shop.example").origin_allowed
    assert not Site.objects.by_key(alice_site.site_key, "https://evil.example").origin_allowed
    assert not Site.objects.by_key(charlie_site.site_key, "https://shop.example").origin_allowed
    assert Site.objects.by_key("sk_not-a-real-key") is None


def test_another_owners_workflow_answers_404_like_a_missing_one(
    client, alice_site, charlie_workflow
):
    stranger = post_execution(client, execution_body(charlie_workflow), site=alice_site)
    missing_body = execution_body(
        charlie_workflow, workflowId="0" * 8 + "-0000-0000-0000-" + "0" * 12
    )
    missing = post_execution(client, missing_body, site=alice_site)

    assert stranger.status_code == missing.status_code == 404
    assert stranger.json() == missing.json()
    assert stranger.json()["errors"] == {"workflowId": ["Workflow not found."]}
    charlie_workflow.refresh_from_db()
    assert charlie_workflow.executions == 0
    assert not Execution.objects.exists()


def test_a_site_key_only_records_the_playbooks_of_its_own_site(client, alice, alice_workflow):
    other_site = Site.objects.create(owner=alice, name="Alice's second shop")

    response = post_execution(client, execution_body(alice_workflow), site=other_site)

    assert response.status_code == 404
    assert not Execution.objects.exists()


def test_a_retry_with_the_same_execution_id_counts_once(client, alice_workflow):
    body = execution_body(alice_workflow, executionId="run-7f3a")

    first = post_execution(client, body, site=alice_workflow.site)
    retry = post_execution(client, body, site=alice_workflow.site)

    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json()["executionId"] == first.json()["executionId"]
    assert retry.json()["success"] is True
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 1
    assert Execution.objects.count() == 1
    assert AnalyticsEvent.objects.count() == 1


def test_execution_ids_are_unique_per_owner_not_globally(client, alice_workflow, charlie_workflow):
    alice_response = post_execution(
        client, execution_body(alice_workflow, executionId="run-1"), site=alice_workflow.site
    )
    charlie_response = post_execution(
        client, execution_body(charlie_workflow, executionId="run-1"), site=charlie_workflow.site
    )

    assert alice_response.status_code == charlie_response.status_code == 201
    assert alice_response.json()["executionId"] != charlie_response.json()["executionId"]


def test_started_at_dates_a_late_execution_and_last_run_never_moves_backwards(
    client, alice_workflow
):
    now = timezone.now()
    recent = now - timedelta(minutes=1)
    late = now - timedelta(days=2)

    post_execution(
        client,
        execution_body(alice_workflow, startedAt=recent.isoformat()),
        site=alice_workflow.site,
    )
    post_execution(
        client, execution_body(alice_workflow, startedAt=late.isoformat()), site=alice_workflow.site
    )

    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 2
    assert alice_workflow.last_run == recent
    assert sorted(Execution.objects.values_list("executed_at", flat=True)) == [late, recent]
    assert AnalyticsEvent.objects.filter(created_at=late).count() == 1


def test_without_started_at_the_time_of_receipt_is_used(client, alice_workflow):
    before = timezone.now()
    post_execution(client, execution_body(alice_workflow), site=alice_workflow.site)

    execution = Execution.objects.get()
    assert before <= execution.executed_at <= timezone.now()
    assert execution.executed_at == execution.received_at


def test_a_clock_slightly_ahead_is_brought_back_to_now(client, alice_workflow):
    ahead = timezone.now() + timedelta(seconds=90)

    response = post_execution(
        client,
        execution_body(alice_workflow, startedAt=ahead.isoformat()),
        site=alice_workflow.site,
    )

    assert response.status_code == 201
    assert Execution.objects.get().executed_at <= timezone.now()


@pytest.mark.parametrize(
    ("started_at", "reason"),
    [
        (timedelta(days=8), "Must be within the last"),
        (-timedelta(hours=1), "Must not be in the future."),
    ],
)
def test_started_at_outside_the_window_is_refused(client, alice_workflow, started_at, reason):
    body = execution_body(alice_workflow, startedAt=(timezone.now() - started_at).isoformat())

    response = post_execution(client, body, site=alice_workflow.site)

    assert response.status_code == 400
    assert reason in response.json()["errors"]["startedAt"][0]
    assert not Execution.objects.exists()


def test_rejections_are_logged_with_their_reason_and_a_masked_key(client, alice_workflow, caplog):
    key = alice_workflow.site.site_key
    with caplog.at_level(logging.INFO, logger="analytics.tracking"):
        post_execution(
            client, execution_body(alice_workflow, status="done"), site=alice_workflow.site
        )

    assert "status=400" in caplog.text
    assert "not a valid choice" in caplog.text
    assert key[:7] in caplog.text
    assert key not in caplog.text


def test_the_history_endpoint_is_not_the_tracking_endpoint(client, alice_workflow):
    response = client.get(TRACK_URL)

    assert response.status_code in (401, 405)
    assert json.loads(response.content)["success"] is False


def test_every_tracking_answer_forbids_loading_and_framing_anything(client, alice_workflow):
    site = alice_workflow.site
    answers = [
        post_execution(client, execution_body(alice_workflow), site=site),
        post_execution(client, execution_body(alice_workflow, status="done"), site=site),
        client.options(TRACK_URL, HTTP_ORIGIN="https://shop.example"),
    ]

    assert [answer.status_code for answer in answers] == [201, 400, 204]
    for answer in answers:
        assert answer["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    page = client.get("/accounts/login/")
    assert "script-src 'self'" in page["Content-Security-Policy"]


def test_answers_are_compact_json(client, alice_workflow):
    body = execution_body(alice_workflow, executionId="run-1")
    first = post_execution(client, body, site=alice_workflow.site)
    retry = post_execution(client, body, site=alice_workflow.site)

    assert (first.status_code, retry.status_code) == (201, 200)
    for answer in (first, retry):
        assert answer.content == json.dumps(answer.json(), separators=(",", ":")).encode()
