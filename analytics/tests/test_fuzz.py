"""Hostile and malformed input, generated: never a 5xx, never a half-written execution."""

import json

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.models import DailyStat, Execution, HourlyStat
from analytics.tests.helpers import execution_body, post_execution

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def no_rate_limit(settings):
    """Thousands of requests from one address in a minute: the limit is tested elsewhere."""
    settings.TRACKING_RATELIMIT_IP = settings.TRACKING_RATELIMIT_SITE = "10000000/m"


FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "workflowId",
    "userId",
    "status",
    "executionTimeMs",
    "pageUrl",
    "sessionId",
    "deviceType",
    "triggerName",
    "executionId",
    "startedAt",
    "actions",
]
action = st.dictionaries(
    st.sampled_from(["name", "selector", "executionTimeMs", "config", "error", "junk"]),
    json_values,
)


@FUZZ
@given(
    overrides=st.dictionaries(
        st.sampled_from(FIELDS),
        json_values | st.lists(action, max_size=3) | st.sampled_from(["success", "mobile", ""]),
    ),
    batch=st.booleans(),
)
def test_generated_bodies_never_answer_5xx_and_never_half_write(
    client, alice_workflow, overrides, batch
):
    body = execution_body(alice_workflow, **overrides)
    payload = {"executions": [body, body]} if batch else body

    response = post_execution(client, payload, site=alice_workflow.site)

    assert response.status_code < 500, response.content
    answer = response.json()
    assert isinstance(answer["success"], bool)
    if not answer["success"] and not batch:
        assert answer["errors"]
    alice_workflow.refresh_from_db()
    rows = Execution.objects.filter(workflow=alice_workflow).count()
    hourly = HourlyStat.objects.aggregate(total=Sum("executions"))["total"] or 0
    daily = DailyStat.objects.aggregate(total=Sum("executions"))["total"] or 0
    assert alice_workflow.executions == rows == hourly == daily


@FUZZ
@given(
    raw=st.binary(max_size=300), content_type=st.sampled_from(["application/json", "text/plain"])
)
def test_generated_raw_bytes_never_answer_5xx(client, alice_workflow, raw, content_type):
    response = post_execution(client, raw, site=alice_workflow.site, content_type=content_type)

    assert 400 <= response.status_code < 500
    assert response.json()["success"] is False


@FUZZ
@given(text=st.text(max_size=200))
def test_generated_text_in_every_string_field_is_stored_or_refused_cleanly(
    client, alice_workflow, text
):
    body = execution_body(
        alice_workflow,
        sessionId=text[:128],
        triggerName=text,
        actions=[{"name": text or "x", "selector": text, "config": {text: text}, "error": text}],
    )

    response = post_execution(client, json.dumps(body), site=alice_workflow.site)

    assert response.status_code in (201, 400), response.content
