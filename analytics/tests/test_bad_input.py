import json

import pytest

from analytics.models import AnalyticsEvent, Execution
from analytics.tests.helpers import execution_body, post_execution

pytestmark = pytest.mark.django_db

LONG = "x" * 5000


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"workflowId": None}, "workflowId"),
        ({"workflowId": "workflow-123"}, "workflowId"),
        ({"workflowId": 42}, "workflowId"),
        ({"status": "done"}, "status"),
        ({"status": None}, "status"),
        ({"executionTimeMs": -1}, "executionTimeMs"),
        ({"executionTimeMs": 10**12}, "executionTimeMs"),
        ({"executionTimeMs": "fast"}, "executionTimeMs"),
        ({"executionTimeMs": 1.5}, "executionTimeMs"),
        ({"pageUrl": "javascript:alert(1)"}, "pageUrl"),
        ({"pageUrl": "ftp://example.com/file"}, "pageUrl"),
        ({"pageUrl": "https://example.com/" + LONG}, "pageUrl"),
        ({"deviceType": "smartwatch"}, "deviceType"),
        ({"sessionId": LONG}, "sessionId"),
        ({"sessionId": "abc\x00def"}, "sessionId"),
        ({"userId": LONG}, "userId"),
        ({"triggerName": LONG}, "triggerName"),
        ({"triggerName": "bad \ud800 surrogate"}, "triggerName"),
        ({"executionId": "has spaces"}, "executionId"),
        ({"executionId": "x" * 65}, "executionId"),
        ({"startedAt": "yesterday"}, "startedAt"),
        ({"actions": "Replace Text"}, "actions"),
        ({"actions": [{"selector": ".title"}]}, "actions"),
        ({"actions": [{"name": "Replace Text", "executionTimeMs": -5}]}, "actions"),
        ({"actions": [{"name": "Replace Text", "selector": LONG}]}, "actions"),
        ({"actions": [{"name": "Replace Text", "config": "not an object"}]}, "actions"),
        ({"actions": [{"name": "Replace Text", "config": {"t": "nul \x00"}}]}, "actions"),
        ({"actions": [{"name": "Replace Text", "config": {"t": "\udc00"}}]}, "actions"),
        ({"actions": [{"name": "Replace Text", "config": {"t": LONG}}]}, "actions"),
        ({"actions": [{"name": "Deep", "config": {"a": [[[[[[[[[1]]]]]]]]]}}]}, "actions"),
        ({"actions": [{"name": f"Action {i}"} for i in range(51)]}, "actions"),
    ],
)
def test_bad_fields_answer_400_naming_the_field_and_store_nothing(
    client, alice_workflow, overrides, field
):
    post_execution(client, execution_body(alice_workflow), site=alice_workflow.site)

    response = post_execution(
        client, execution_body(alice_workflow, **overrides), site=alice_workflow.site
    )

    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert field in body["errors"]
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 1
    assert Execution.objects.count() == 1
    assert AnalyticsEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b'{"workflowId": ', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'"just a string"', "text/plain"),
        (b'{"executionTimeMs": NaN}', "application/json"),
        (b"[" * 100_000, "application/json"),
        (b'{"workflowId": "\xff\xfe"}', "application/json"),
    ],
)
def test_malformed_bodies_answer_400_naming_the_body(client, alice_workflow, raw, content_type):
    response = post_execution(client, raw, site=alice_workflow.site, content_type=content_type)

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert "body" in response.json()["errors"]
    assert not Execution.objects.exists()


def test_an_unsupported_content_type_answers_415(client, alice_workflow):
    response = post_execution(
        client, "<execution/>", site=alice_workflow.site, content_type="application/xml"
    )

    assert response.status_code == 415
    assert "body" in response.json()["errors"]


def test_an_oversized_body_answers_413_before_it_is_parsed(client, alice_workflow, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    body = execution_body(alice_workflow, triggerName="x" * (100 * 1024))

    response = post_execution(client, body, site=alice_workflow.site)

    assert response.status_code == 413
    assert response.json()["errors"]["body"] == ["Request body is larger than 65536 bytes."]
    assert not Execution.objects.exists()


def test_fields_the_client_does_not_own_are_ignored(client, alice_workflow, charlie):
    body = execution_body(
        alice_workflow, executions=1000, owner=charlie.pk, lastRun="2001-01-01T00:00:00Z"
    )

    response = post_execution(client, body, site=alice_workflow.site)

    assert response.status_code == 201
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 1
    assert alice_workflow.last_run.year > 2001
    assert Execution.objects.get().owner == alice_workflow.owner


def test_a_10_mb_body_is_refused_within_a_second(client, alice_workflow):
    import time

    body = b'{"workflowId": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    started = time.monotonic()

    response = post_execution(client, body, site=alice_workflow.site)

    assert time.monotonic() - started < 1.0
    assert response.status_code == 413
    assert "body" in response.json()["errors"]
    assert not Execution.objects.exists()


@pytest.mark.parametrize("key", ["sk_\x00nul", "sk_\ud800lone", "sk_ spaced", "x" * 65])
@pytest.mark.parametrize("beacon", [False, True])
def test_a_malformed_site_key_answers_401_and_stores_nothing(client, alice_workflow, key, beacon):
    body = execution_body(alice_workflow)
    if beacon:  # the key in a text/plain body, as navigator.sendBeacon sends it
        raw = json.dumps({**body, "siteKey": key})
        response = post_execution(client, raw, content_type="text/plain;charset=UTF-8")
    else:
        response = post_execution(client, {**body, "siteKey": key})

    assert response.status_code == 401
    assert response.json() == {"success": False, "errors": {"siteKey": ["Unknown site key."]}}
    assert not Execution.objects.exists()
