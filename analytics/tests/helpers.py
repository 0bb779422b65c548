import json
import time
from collections.abc import Callable
from typing import Any

from django.test import Client

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
