"""Deployment security: headers, CSP, login limits, key rotation, production settings."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.cache import caches

from analytics.models import Execution
from analytics.tests.helpers import execution_body, post_execution

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/accounts/login/", "/demo/", "/api/docs/", "/admin/login/"])
def test_every_page_has_a_content_security_policy_and_security_headers(client, url):
    from django.core.management import call_command

    call_command("load_demo", executions=0, force=True)

    response = client.get(url)

    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_dashboard_pages_load_no_inline_style_or_script(client, alice):
    client.force_login(alice)

    for url in ["/", "/playbooks/", "/analytics/", "/sites/", "/settings/"]:
        content = client.get(url).content
        assert b"<style" not in content
        assert b' style="' not in content
        assert b"<script>" not in content


def login(client, password: str, ip: str = "198.51.100.7"):
    return client.post(
        "/accounts/login/", {"username": "alice", "password": password}, REMOTE_ADDR=ip
    )


@pytest.mark.usefixtures("frozen_window")
def test_the_11th_failed_login_in_a_minute_answers_429(client, alice):
    failures = [login(client, "wrong").status_code for _ in range(10)]
    eleventh = login(client, "alice-password")
    elsewhere = login(client, "alice-password", ip="198.51.100.8")

    assert failures == [200] * 10
    assert eleventh.status_code == 429
    assert int(eleventh["Retry-After"]) >= 1
    assert b"Too many" in eleventh.content
    assert elsewhere.status_code == 302


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("frozen_window")
def test_attempts_sent_at_once_are_counted_before_any_password_is_checked(alice, settings):
    import threading

    from django.contrib.auth.signals import user_login_failed
    from django.db import connections
    from django.test import Client

    settings.LOGIN_RATELIMIT = "10/m"
    checked, statuses = [], []
    user_login_failed.connect(lambda **kw: checked.append(1), weak=False, dispatch_uid="count")
    start = threading.Barrier(24)

    def attempt():
        start.wait()
        statuses.append(login(Client(), "wrong").status_code)
        connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(24)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        user_login_failed.disconnect(dispatch_uid="count")

    assert sorted(statuses) == [200] * 10 + [429] * 14
    assert len(checked) == 10


@pytest.mark.usefixtures("frozen_window")
def test_every_attempt_counts_a_successful_one_too(client, alice):
    for _ in range(10):
        assert login(client, "alice-password").status_code == 302
        client.post("/accounts/logout/")

    assert login(client, "alice-password").status_code == 429


def test_there_is_no_password_reset_by_mail(client, alice, mailoutbox):
    response = client.post("/accounts/password_reset/", {"email": "alice@example.com"})

    assert response.status_code == 404
    assert mailoutbox == []
    assert b"Ask an administrator" in client.get("/accounts/login/").content


def test_login_fails_closed_when_the_cache_is_down(client, alice, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }

    response = login(client, "alice-password")

    assert response.status_code == 503
    assert "_auth_user_id" not in client.session
    caches["default"]  # the handler is rebuilt when the setting is restored


def test_rotating_a_site_key_stops_the_old_one(client, alice, alice_workflow):
    site = alice_workflow.site
    old_key = site.site_key
    client.force_login(alice)

    response = client.post(f"/sites/{site.public_id}/rotate-key/")
    site.refresh_from_db()
    with_old = post_execution(client, execution_body(alice_workflow), HTTP_X_SITE_KEY=old_key)
    with_new = post_execution(client, execution_body(alice_workflow), site=site)

    assert response.status_code == 302
    assert site.site_key != old_key
    assert with_old.status_code == 401
    assert with_new.status_code == 201
    assert Execution.objects.count() == 1


def test_a_stranger_cannot_rotate_my_key(client, charlie, alice_site):
    client.force_login(charlie)
    old_key = alice_site.site_key

    response = client.post(f"/sites/{alice_site.public_id}/rotate-key/")

    alice_site.refresh_from_db()
    assert response.status_code == 404
    assert alice_site.site_key == old_key


def test_production_settings_pass_the_deploy_check_with_no_warning():
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DEBUG", "DATABASE_URL", "REDIS_URL")
    }
    env.update(
        SECRET_KEY="a-production-secret-" + "x" * 50,
        ALLOWED_HOSTS="tracker.example.com",
        REDIS_URL="redis://127.0.0.1:6379/15",
        DEBUG="0",
    )

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_markup_is_escaped_in_the_admin(admin_client, alice, alice_site):
    from analytics.services import record_execution
    from workflows.models import Workflow

    evil = Workflow.objects.create(owner=alice, site=alice_site, name="<script>alert(1)</script>")
    record_execution(
        owner=alice,
        site=None,
        workflow_id=evil.public_id,
        status="error",
        execution_time_ms=1,
        page_url="https://x.example/<img src=x onerror=alert(2)>",
        actions=[{"name": "<b>n</b>", "selector": "<svg onload=alert(3)>", "error": "<i>e</i>"}],
    )
    execution = evil.execution_records.get()
    pages = [
        "/admin/workflows/workflow/",
        f"/admin/workflows/workflow/{evil.pk}/change/",
        "/admin/analytics/execution/",
        f"/admin/analytics/execution/{execution.pk}/change/",
        "/admin/analytics/analyticsevent/",
    ]

    for page in pages:
        content = admin_client.get(page).content
        assert b"<script>alert(1)" not in content, page
        assert b"<img src=x" not in content, page
        assert b"<svg onload" not in content, page
        assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in content or b"&lt;svg" in content, page
