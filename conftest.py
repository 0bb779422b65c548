"""Test services: PostgreSQL and Redis when reachable, SQLite and local memory otherwise.

`make test` points DATABASE_URL and REDIS_URL at the local services. When one of them
cannot be reached the suite still runs, on SQLite or a local-memory cache, and the tests
marked `postgres` or `redis` are skipped with a warning that cannot be missed. CI sets
REQUIRE_SERVICES=1, which turns a missing service into a failure instead.
"""

import os
import shutil
import types
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.db import connections

from analytics.tests.agents import VISITOR_USER_AGENT

MISSING: dict[str, str] = {}
CHROMIUM = "/usr/bin/chromium"


def pytest_configure(config: pytest.Config) -> None:
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "tracker.postgres":
        problem = _postgres_problem(database)
        if problem:
            _fall_back(config, "postgres", problem)
            settings.DATABASES = {
                "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
            }
            connections._settings = None
            connections.__dict__.pop("settings", None)
    else:
        MISSING["postgres"] = "DATABASE_URL is not a PostgreSQL URL"

    if settings.REDIS_URL:
        problem = _redis_problem(settings.REDIS_URL)
        if problem:
            _fall_back(config, "redis", problem)
            settings.CACHES = {
                "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
            }
            caches._settings = None
            caches.__dict__.pop("settings", None)
    else:
        MISSING["redis"] = "REDIS_URL is not set"
    if not shutil.which(CHROMIUM):
        _fall_back(config, "browser", f"{CHROMIUM} not found (apt-get install chromium)")
    if not (Path(settings.BASE_DIR) / "node_modules" / ".installed").exists():
        _fall_back(config, "npm", "node_modules missing (make test runs npm ci)")
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        _fall_back(config, "nginx", "nginx not found (apt-get install nginx-light)")

    if os.environ.get("REQUIRE_SERVICES") == "1" and MISSING:
        pytest.exit(f"REQUIRE_SERVICES=1 but services are missing: {MISSING}", returncode=3)


def _postgres_problem(database: dict) -> str | None:
    try:
        psycopg.connect(
            host=database["HOST"] or None,
            port=database["PORT"] or None,
            user=database["USER"] or None,
            password=database["PASSWORD"] or None,
            dbname="postgres",
            connect_timeout=2,
        ).close()
    except psycopg.Error as exc:
        return f"PostgreSQL unreachable ({str(exc).strip().splitlines()[0]})"
    return None


def _redis_problem(url: str) -> str | None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.RedisError as exc:
        return f"Redis unreachable ({exc})"
    return None


def _fall_back(config: pytest.Config, service: str, problem: str) -> None:
    MISSING[service] = problem
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if terminal:
        terminal.write_line(f"!!! {problem}: tests marked '{service}' will be SKIPPED", red=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for service, problem in MISSING.items():
            if service in item.keywords:
                item.add_marker(pytest.mark.skip(reason=f"needs {service}: {problem}"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # pytest exits 5 when it collected nothing: a suite that ran no test has not passed.
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if any(f"needs {service}" in str(report.longrepr) for service in MISSING)
    ]
    if skipped:
        terminalreporter.section("SERVICES MISSING", sep="!", red=True, bold=True)
        for service, problem in MISSING.items():
            terminalreporter.write_line(f"{service}: {problem}", red=True, bold=True)
        terminalreporter.write_line(
            f"{len(skipped)} tests were SKIPPED for it. Start the service and run `make test` "
            "again before you trust this run.",
            red=True,
            bold=True,
        )


# Fixtures shared by both apps: alice owns things, charlie is a stranger to them; Playwright
# drives Debian's Chromium.


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A visitor's browser, not a headless one: the tracker does not count known bots, and
    # headless Chrome names itself one.
    f"--user-agent={VISITOR_USER_AGENT}",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make
    # between browser steps are still synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password")


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def charlie(django_user_model):
    return django_user_model.objects.create_user("charlie", password="charlie-password")


@pytest.fixture
def alice_site(alice):
    from workflows.models import Site, SiteOrigin

    site = Site.objects.create(owner=alice, name="Alice's shop")
    SiteOrigin.objects.create(site=site, origin="https://shop.example")
    return site


@pytest.fixture
def alice_workflow(alice, alice_site):
    from workflows.models import Workflow

    return Workflow.objects.create(
        owner=alice,
        site=alice_site,
        name="Mobile CTA Optimization",
        triggers=[{"type": "device", "devices": ["mobile"]}],
        actions=[{"type": "replace_text", "selector": ".cta", "text": "Tap here"}],
    )


@pytest.fixture
def charlie_site(charlie):
    from workflows.models import Site

    return Site.objects.create(owner=charlie, name="Charlie's blog")


@pytest.fixture
def charlie_workflow(charlie, charlie_site):
    from workflows.models import Workflow

    return Workflow.objects.create(owner=charlie, site=charlie_site, name="Charlie's banner")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(autouse=True)
def clean_cache():
    """Every test starts with an empty cache (the tests' own Redis database): counters left by
    an earlier test in the same minute would otherwise answer 429."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def frozen_window(monkeypatch):
    """django-ratelimit counts in fixed windows: keep the test inside one of them."""
    monkeypatch.setattr("django_ratelimit.core.time", types.SimpleNamespace(time=lambda: 1.8e9))
    monkeypatch.setattr("analytics.ratelimits.time", types.SimpleNamespace(time=lambda: 1.8e9))
