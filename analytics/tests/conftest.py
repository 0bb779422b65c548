"""Shared fixtures: a customer's landing page, and a playbook with known runs."""

from datetime import timedelta

import pytest

from analytics.tests.helpers import run
from analytics.tests.pages import LandingSite


@pytest.fixture
def landing_site():
    site = LandingSite()
    yield site
    site.close()


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
