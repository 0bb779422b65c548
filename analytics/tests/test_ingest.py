"""The WSGI ingest answers a site script's common post in front of Django, exactly as Django
would; everything else reaches Django with its body, counted against the limits once."""

import json
import logging

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import RequestFactory, override_settings

from analytics.ingest import APPLIED_MIDDLEWARE, SKIPPED_MIDDLEWARE, TrackingIngest
from analytics.models import AnalyticsEvent, DailyStat, Execution, HourlyStat
from analytics.tests.helpers import TRACK_URL, execution_body
from tracker.wsgi import application, django_application

# The ingest runs outside any test transaction, in autocommit, as it does in production.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("frozen_window"),
]


def call(app, body=b"", *, method="POST", path=TRACK_URL, content_type="text/plain", **meta):
    """Run one request through a WSGI application: (status, headers, JSON or other content)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    environ = RequestFactory().generic(method, path, data, content_type, **meta).environ
    answer = {}

    def start_response(status, headers):
        answer.update(status=int(status.split()[0]), headers=dict(headers))

    content = b"".join(app(environ, start_response))
    if answer["headers"].get("Content-Type") == "application/json":
        content = json.loads(content)
    return answer["status"], answer["headers"], content


def site_post(workflow, **overrides):
    return execution_body(workflow, siteKey=workflow.site.site_key, **overrides)


class Django:
    """Stands in for Django behind the ingest, noting each request handed on."""

    def __init__(self) -> None:
        self.environs = []

    def __call__(self, environ, start_response):
        self.environs.append(environ)
        return django_application(environ, start_response)


def test_a_site_script_post_is_recorded_without_django(alice_workflow):
    django = Django()
    status, headers, answer = call(TrackingIngest(django), site_post(alice_workflow))

    assert status == 201
    assert django.environs == []
    execution = Execution.objects.get()
    assert answer["executionId"] == execution.execution_id
    assert headers["Content-Type"] == "application/json"
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 1 and alice_workflow.last_run == execution.received_at
    assert AnalyticsEvent.objects.get().execution == execution
    assert HourlyStat.objects.get().executions == DailyStat.objects.get().executions == 1


@pytest.mark.parametrize("meta", [{}, {"HTTP_ORIGIN": "https://shop.example"}])
def test_it_answers_with_the_headers_django_gives(alice_workflow, meta):
    ingest = call(application, site_post(alice_workflow, executionId="run-1"), **meta)
    full = call(django_application, site_post(alice_workflow, executionId="run-2"), **meta)

    assert ingest[0] == full[0] == 201
    # Django reads the session (for the time zone), so says its answer varies with cookies.
    vary = [value for value in full[1].pop("Vary").split(", ") if value != "Cookie"]
    assert ingest[1] == {**full[1], **({"Vary": ", ".join(vary)} if vary else {})}
    assert "X-Content-Type-Options" in ingest[1] and "X-Frame-Options" in ingest[1]
    assert ingest[1].get("Access-Control-Allow-Origin") == meta.get("HTTP_ORIGIN")


def test_every_tracking_answer_forbids_loading_and_framing_anything(alice_workflow, client):
    answers = [
        call(application, site_post(alice_workflow)),  # in front of Django
        call(django_application, site_post(alice_workflow)),  # Django's own common case
        call(application, {**site_post(alice_workflow), "status": "done"}),  # DRF's 400
        call(application, method="OPTIONS", HTTP_ORIGIN="https://shop.example"),
    ]

    assert [status for status, _, _ in answers] == [201, 201, 400, 204]
    for _, headers, _ in answers:
        assert headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    page = client.get("/accounts/login/")
    assert "script-src 'self'" in page["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        (lambda body: {**body, "status": "done"}, 400, "status"),
        (lambda body: {**body, "workflowId": "00000000-0000-4000-8000-000000000000"}, 404,
         "workflowId"),
        (lambda body: {**body, "siteKey": "not-a-site-key"}, 401, "siteKey"),
        (lambda body: {"siteKey": body["siteKey"], "executions": [body]}, 200, None),
        (lambda body: b"{not json", 400, "body"),
    ],
)  # fmt: skip
def test_anything_else_gets_djangos_answer_counted_once(alice_workflow, change, status, field):
    django = Django()
    ingest = TrackingIngest(django)
    body = change(site_post(alice_workflow))
    with override_settings(TRACKING_RATELIMIT_IP="2/m"):
        answers = [call(ingest, body) for _ in range(3)]

    assert [answer[0] for answer in answers] == [status, status, 429]
    assert len(django.environs) == 3
    if field:
        assert field in answers[0][2]["errors"]


def test_a_retried_execution_is_recognised_by_django(alice_workflow):
    body = site_post(alice_workflow, executionId="run-1")
    first = call(application, body)
    retry = call(application, body)

    assert (first[0], retry[0]) == (201, 200)
    assert first[2]["executionId"] == retry[2]["executionId"]
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == Execution.objects.count() == 1


def test_a_recorded_post_and_its_retry_are_written_alike(alice_workflow):
    body = json.dumps(site_post(alice_workflow, executionId="run-1")).encode()
    post, statuses = RequestFactory().generic, []
    # The first is answered in front of Django, the retry by DRF.
    answers = [
        b"".join(
            application(
                post("POST", TRACK_URL, body, "text/plain").environ,
                lambda status, headers: statuses.append(status),
            )
        )
        for _ in range(2)
    ]

    assert statuses == ["201 Created", "200 OK"]
    for answer in answers:
        assert answer == json.dumps(json.loads(answer), separators=(",", ":")).encode()


def test_a_database_outage_answers_503_as_django_does(alice_workflow, monkeypatch):
    def lost_connection(request, counted):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("analytics.ingest.record_common_case", lost_connection)
    django = Django()
    status, headers, answer = call(TrackingIngest(django), site_post(alice_workflow))

    assert status == 503 and django.environs == []
    assert answer["errors"] == {"database": ["Temporarily unavailable; retry shortly."]}
    assert int(headers["Retry-After"]) > 0 and "X-Content-Type-Options" in headers
    assert not Execution.objects.exists()


@pytest.mark.parametrize("step", ["count_tracking_request", "record_common_case"])
def test_an_unexpected_error_is_logged_and_answered_by_django(
    alice_workflow, monkeypatch, caplog, step
):
    def broken(*args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(f"analytics.ingest.{step}", broken)
    django = Django()
    with caplog.at_level(logging.WARNING, logger="analytics.tracking"):
        status, _, answer = call(TrackingIngest(django), site_post(alice_workflow))

    assert status == 201 and len(django.environs) == 1
    assert answer["executionId"] == Execution.objects.get().execution_id
    assert "answering through Django" in caplog.text


@pytest.mark.parametrize(
    ("request_kind", "status"),
    [
        ({"HTTP_HOST": "evil.example"}, 400),
        ({"CONTENT_LENGTH": str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}, 413),
    ],
)
def test_a_request_django_refuses_is_refused_by_django(alice_workflow, request_kind, status):
    django = Django()
    answer = call(TrackingIngest(django), site_post(alice_workflow), **request_kind)

    assert answer[0] == status and len(django.environs) == 1
    assert not Execution.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/healthz"), ("OPTIONS", TRACK_URL), ("POST", TRACK_URL + "/"), ("GET", TRACK_URL)],
)
def test_other_requests_go_straight_to_django(alice_workflow, method, path):
    django = Django()
    call(TrackingIngest(django), site_post(alice_workflow), method=method, path=path)

    assert len(django.environs) == 1
    assert "tracker.tracking_counted" not in django.environs[0]


def test_it_keeps_djangos_connection_lifecycle(alice_workflow):
    assert connection.settings_dict["CONN_MAX_AGE"] == 0  # as the tests configure it
    assert call(application, site_post(alice_workflow))[0] == 201
    # request_finished closes a connection that must not outlive its request.
    assert connection.connection is None


def test_every_middleware_is_either_applied_or_known_to_be_needless():
    assert not APPLIED_MIDDLEWARE & SKIPPED_MIDDLEWARE
    assert set(settings.MIDDLEWARE) <= APPLIED_MIDDLEWARE | SKIPPED_MIDDLEWARE


def test_the_wsgi_module_freezes_what_startup_made_for_the_garbage_collector():
    import gc

    # Frozen objects are left out of every collection; startup makes well over 10,000.
    assert gc.get_freeze_count() > 10_000
