"""Shared fixtures: Playwright driving Debian's Chromium, and a playbook with known runs."""

import os
from datetime import timedelta

import pytest

from analytics.tests.helpers import run
from analytics.tests.pages import LandingSite

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make
    # between browser steps are still synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def landing_site():
    site = LandingSite()
    yield site
    site.close()


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def known_data(alice_workflow):
    """Alice's playbook: 3 runs today, 1 error 3 days ago, 1 timeout 20 days ago, 1 at 40 days."""
    for ms in (10, 20, 30):
        run(alice_workflow, ms=ms, device="mobile", trigger_name="Device Type")
    run(alice_workflow, ago=timedelta(days=3), status="error", ms=400, trigger_name="Device Type")
    run(alice_workflow, ago=timedelta(days=20), status="timeout", ms=9000, device="tablet")
    run(alice_workflow, ago=timedelta(days=40), ms=50)
    alice_workflow.refresh_from_db()
    return alice_workflow
