import socket
import time

import pytest
from django.db import connection

from analytics.models import Execution
from analytics.tests.helpers import execution_body, post_execution

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def unreachable_database():
    """Point the app's connection at a port where nothing listens, then put it back."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    real = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port))
    yield
    connection.close()
    connection.settings_dict.update(HOST=real["HOST"], PORT=real["PORT"])


def test_tracking_answers_503_json_with_retry_after(client, alice_workflow, unreachable_database):
    started = time.monotonic()
    response = post_execution(client, execution_body(alice_workflow), site=alice_workflow.site)

    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert int(response["Retry-After"]) > 0
    assert response.json() == {
        "success": False,
        "errors": {"database": ["Temporarily unavailable; retry shortly."]},
    }


def test_the_next_request_succeeds_once_the_database_is_back(client, alice_workflow):
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"
    down = post_execution(client, execution_body(alice_workflow), site=alice_workflow.site)
    connection.close()
    connection.settings_dict["PORT"] = real_port

    back = post_execution(client, execution_body(alice_workflow), site=alice_workflow.site)

    assert (down.status_code, back.status_code) == (503, 201)
    assert Execution.objects.count() == 1


def test_healthz_reports_the_database_down(client, unreachable_database):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["database"].startswith("error")


@pytest.fixture
def signed_in_client(client, alice):
    client.force_login(alice)
    return client


def test_pages_show_a_friendly_page_not_a_traceback(signed_in_client, unreachable_database):
    response = signed_in_client.get("/admin/")

    assert response.status_code == 503
    assert b"Back in a moment" in response.content
    assert b"Traceback" not in response.content
