"""The dashboard in a real browser: counts and the feed update by themselves."""

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from analytics.tests.agents import VISITOR_USER_AGENT
from analytics.tests.helpers import execution_body
from workflows.models import Workflow

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def track(live_server, workflow) -> int:
    request = urllib.request.Request(
        f"{live_server.url}/api/track-execution",
        data=json.dumps(execution_body(workflow, pageUrl="https://shop.example/live")).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Site-Key": workflow.site.site_key,
            "User-Agent": VISITOR_USER_AGENT,  # as the site script posts it from a browser
        },
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

    expect(page.locator("#counter")).to_have_text("1", timeout=15000)
    page.locator("#history", has_text="https://shop.example/live").wait_for(timeout=15000)
    assert page.evaluate("window.notReloaded") is True
    assert page.errors == []


def test_the_overview_counts_and_feed_update_live(signed_in, live_server, alice_workflow):
    page = signed_in
    assert page.locator("#count-period").text_content() == "0"
    page.evaluate("window.notReloaded = true")

    track(live_server, alice_workflow)
    track(live_server, alice_workflow)

    expect(page.locator("#count-period")).to_have_text("2", timeout=15000)
    page.locator("#feed", has_text="Mobile CTA Optimization").wait_for()
    assert page.evaluate("window.notReloaded") is True


def test_no_page_breaks_the_content_security_policy(signed_in, live_server, alice_workflow):
    from django.core.management import call_command

    call_command("load_demo", executions=5, force=True)
    # The demo's headline playbook holds one new visitor in four out: this one must see it.
    headline = Workflow.objects.filter(name="Spring campaign headline")
    assert headline.update(holdout_percent=0) == 1
    page = signed_in
    violations = []
    page.on(
        "console",
        lambda m: violations.append((page.url, m.text)) if "Security Policy" in m.text else None,
    )
    urls = ["/", "/playbooks/", f"/playbooks/{alice_workflow.public_id}/", "/analytics/"]
    urls += ["/sites/", "/settings/", "/api/docs/", "/demo/?utm_source=newsletter"]

    for url in urls:
        page.goto(f"{live_server.url}{url}")
        page.wait_for_load_state("networkidle")

    expect(page.locator(".hero-title")).to_have_text("Welcome, newsletter reader!")
    page.goto(f"{live_server.url}/")
    assert page.evaluate("typeof window.htmx") == "object"
    assert violations == []
