"""The dashboard in a real browser: counts and the feed update by themselves."""

import json
import urllib.request

import pytest

from analytics.tests.helpers import execution_body

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def track(live_server, workflow) -> int:
    request = urllib.request.Request(
        f"{live_server.url}/api/track-execution",
        data=json.dumps(execution_body(workflow, pageUrl="https://shop.example/live")).encode(),
        headers={"Content-Type": "application/json", "X-Site-Key": workflow.site.site_key},
    )
    with urllib.request.urlopen(request) as response:
        return response.status


@pytest.fixture
def signed_in(browser, live_server, alice):
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(error))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


def test_a_new_execution_shows_up_without_reloading(signed_in, live_server, alice_workflow):
    page = signed_in
    page.goto(f"{live_server.url}/playbooks/{alice_workflow.public_id}/")
    assert page.locator("#counter").text_content() == "0"
    page.evaluate("window.notReloaded = true")

    assert track(live_server, alice_workflow) == 201

    page.wait_for_function("document.querySelector('#counter').textContent === '1'", timeout=15000)
    page.locator("#history", has_text="https://shop.example/live").wait_for(timeout=15000)
    assert page.evaluate("window.notReloaded") is True
    assert page.errors == []


def test_the_overview_counts_and_feed_update_live(signed_in, live_server, alice_workflow):
    page = signed_in
    assert page.locator("#count-today").text_content() == "0"
    page.evaluate("window.notReloaded = true")

    track(live_server, alice_workflow)
    track(live_server, alice_workflow)

    page.wait_for_function(
        "document.querySelector('#count-today').textContent === '2'", timeout=15000
    )
    page.locator("#feed", has_text="Mobile CTA Optimization").wait_for()
    assert page.evaluate("window.notReloaded") is True
