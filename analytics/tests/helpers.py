import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.test import Client
from django.utils import timezone

from analytics.conversions import record_conversions
from analytics.services import record_execution
from workflows.models import Site, Workflow

TRACK_URL = "/api/track-execution"


def execution_body(workflow: Workflow, **overrides: Any) -> dict[str, Any]:
    """The spec's example record for `workflow`."""
    body = {
        "workflowId": str(workflow.public_id),
        "userId": "user-456",
        "status": "success",
        "executionTimeMs": 250,
        "pageUrl": "https://shop.example/pricing",
        "sessionId": "session-123",
        "deviceType": "desktop",
        "triggerName": "UTM Parameters",
        "actions": [
            {
                "name": "Replace Text",
                "selector": ".hero-title",
                "executionTimeMs": 45,
                "config": {"newText": "Special Offer!"},
            }
        ],
    }
    body.update(overrides)
    return body


def post_execution(
    client: Client,
    body: Any,
    *,
    site: Site | None = None,
    content_type: str = "application/json",
    **headers: Any,
):
    """POST to the tracking endpoint, authenticated with `site`'s key in the header."""
    if site is not None:
        headers.setdefault("HTTP_X_SITE_KEY", site.site_key)
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(TRACK_URL, data=data, content_type=content_type, **headers)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition` (a database query, say) until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def wait_for_console_line(page, fragment: str, timeout_ms: int = 10_000) -> None:
    """Wait until a line holding `fragment` reaches `page.console_lines`: the page's own state can
    move on before its console event reaches Python (sooner still when the line logs objects)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not any(fragment in line for line in page.console_lines):
        if time.monotonic() > deadline:
            raise AssertionError(f"no console line with {fragment!r} in {page.console_lines}")
        page.wait_for_timeout(50)


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


CONVERSION_URL = "/api/track-conversion"


def post_conversion(client: Client, body: Any, *, site: Site | None = None, **headers: Any):
    """POST to the conversion endpoint, authenticated with `site`'s key in the header."""
    if site is not None:
        headers.setdefault("HTTP_X_SITE_KEY", site.site_key)
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(CONVERSION_URL, data=data, content_type="application/json", **headers)


def convert(goals, visitors, **fields: Any) -> None:
    """Each of `visitors` reaches each of `goals` now, through the write path."""
    for goal in goals:
        items = [
            {"goal_id": goal.public_id, "visitor_id": visitor, **fields} for visitor in visitors
        ]
        record_conversions(site_key=goal.site.site_key, origin=None, items=items)
