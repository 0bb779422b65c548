"""Goals, holdout groups and privacy in the site script: on a real third-party page (Start
Bootstrap's landing page theme) on an origin of its own, in Chromium, counted on the server.
A goal counts once per visitor and day; a held-out visitor sees nothing change; a visitor who
asks not to be tracked (Do Not Track, Global Privacy Control, or no consent) is sent nothing
and has nothing stored, and still gets the playbooks."""

import itertools
import json

import pytest

from analytics.models import Conversion, Execution, Exposure
from analytics.tests.helpers import wait_until
from analytics.tests.test_site_script_delivery import (
    HEADLINE,
    ORIGINAL,
    open_page,
    playbook,
    replace,
    tag,
)
from workflows.models import Goal, Site, SiteOrigin, Workflow

pytestmark = [
    pytest.mark.browser,
    pytest.mark.npm,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

CHANGED = "Leads, delivered."
# A button on the page, whose label stops the click from bubbling: a click goal listens in
# the capture phase, so it still counts.
BUTTON = (
    '<button class="signup-button" type="button">'
    '<span class="label" onclick="event.stopPropagation()">Sign up</span></button>'
)
STORED = "Object.keys(localStorage).filter(key => key.startsWith('wf_'))"
QUEUED_CONVERSIONS = (
    "Object.keys(localStorage).filter(key => key.startsWith('wf_conversions:'))"
    ".map(key => localStorage.getItem(key)).join('')"
)
APPLIED = f"document.querySelector('{HEADLINE}').textContent === '{CHANGED}'"
LOADED = "window.workflowSystem && window.workflowSystem.rules"


@pytest.fixture
def site(alice, landing_site):
    site = Site.objects.create(owner=alice, name="Landing")
    SiteOrigin.objects.create(site=site, origin=landing_site.origin)
    return site


def goal(site: Site, name: str, kind: str, **fields: str) -> Goal:
    return Goal.objects.create(owner=site.owner, site=site, name=name, kind=kind, **fields)


def headline(site: Site, holdout_percent: int = 0) -> Workflow:
    workflow = playbook(site, "Headline", [replace(HEADLINE, CHANGED)])
    Workflow.objects.filter(pk=workflow.pk).update(holdout_percent=holdout_percent)
    workflow.refresh_from_db()
    return workflow


def fnv1a(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def visitor_in(workflow: Workflow, *, held_out: bool) -> str:
    """A visitor id the contract's bucket puts in the given group of `workflow`."""
    for n in itertools.count(1):
        visitor = f"{n:032x}"
        bucket = fnv1a(f"{visitor}:{workflow.public_id}") % 100
        if (bucket < workflow.holdout_percent) == held_out:
            return visitor
    raise AssertionError("unreachable")


def tracking_requests(context) -> list:
    """Every request the context's pages make to the tracking endpoints, beacons included."""
    sent = []
    context.on(
        "request",
        lambda request: "/api/track-" in request.url and sent.append(request),
    )
    return sent


def conversions_posted(requests) -> int:
    posted = 0
    for request in requests:
        if request.url.endswith("/api/track-conversion"):
            body = json.loads(request.post_data)
            posted += len(body.get("conversions", [body]))
    return posted


def recorded() -> tuple[int, int, int]:
    """Executions, conversions and exposures on the server."""
    return Execution.objects.count(), Conversion.objects.count(), Exposure.objects.count()


def conversions(goal: Goal, visitor: str | None = None) -> int:
    found = Conversion.objects.filter(goal=goal)
    return (found.filter(visitor_id=visitor) if visitor else found).count()


def test_a_goal_clicked_after_a_playbook_ran_counts_once_a_day_with_the_exposure(
    browser, live_server, landing_site, site
):
    workflow = headline(site, holdout_percent=50)
    signup = goal(site, "Signed up", "click", selector=".signup-button")
    visitor = visitor_in(workflow, held_out=False)
    landing_site.body = BUTTON + tag(live_server.url, site)
    context = browser.new_context()
    context.add_init_script(
        f"localStorage.getItem('wf_vid') || localStorage.setItem('wf_vid', '{visitor}')"
    )
    sent = tracking_requests(context)
    page = open_page(browser, landing_site, context=context)

    page.wait_for_function(APPLIED)
    wait_until(lambda: Exposure.objects.filter(workflow=workflow).exists())
    page.click(".signup-button .label")
    wait_until(lambda: conversions(signup) == 1)

    assert conversions(signup, visitor) == 1
    exposure = Exposure.objects.get()
    assert (exposure.workflow, exposure.visitor_id, exposure.held_out) == (workflow, visitor, False)
    assert Execution.objects.filter(workflow=workflow).count() == 1

    # Again the same day: in this page view, and after a reload.
    page.click(".signup-button .label")
    page.reload()
    page.wait_for_function(APPLIED)
    page.click(".signup-button")
    wait_until(lambda: Execution.objects.filter(workflow=workflow).count() == 2)
    page.wait_for_timeout(1500)  # room for a conversion to arrive, if one were sent

    assert conversions(signup) == 1
    assert conversions_posted(sent) == 1  # the script itself counted once, not only the server
    assert Exposure.objects.count() == 1
    assert page.evaluate("localStorage.getItem('wf_vid')") == visitor
    assert json.loads(page.evaluate("localStorage.getItem('wf_groups')")) == {
        str(workflow.public_id): "exposed"
    }


def test_a_page_goal_and_a_call_goal_count_once_each(browser, live_server, landing_site, site):
    thanks = goal(site, "Thanks page", "page", match="starts_with", path="/thanks")
    signup = goal(site, "Signed up", "call", event="signup")
    other = goal(site, "Other call", "call", event="newsletter")
    landing_site.body = tag(live_server.url, site)
    context = browser.new_context()
    sent = tracking_requests(context)
    page = open_page(browser, landing_site, context=context)
    page.wait_for_function(LOADED)

    page.evaluate("workflowSystem.goal('signup'); workflowSystem.goal('signup')")
    wait_until(lambda: conversions(signup) == 1)
    assert conversions(thanks) == 0  # not on the home page

    page.evaluate("history.pushState({}, '', '/thanks?plan=pro')")
    wait_until(lambda: conversions(thanks) == 1)
    page.evaluate("history.pushState({}, '', '/Thanks/again')")  # the same day: not again
    assert page.evaluate("workflowSystem.goal('signup')") is None
    page.wait_for_timeout(1500)  # room for a conversion to arrive, if one were sent

    assert (conversions(thanks), conversions(signup), conversions(other)) == (1, 1, 0)
    assert conversions_posted(sent) == 2
    visitor = page.evaluate("localStorage.getItem('wf_vid')")
    assert set(Conversion.objects.values_list("visitor_id", flat=True)) == {visitor}
    assert Conversion.objects.get(goal=thanks).page_url == f"{landing_site.origin}/thanks?plan=pro"


def test_a_held_out_visitor_sees_no_change_and_is_counted_as_held_out(
    browser, live_server, landing_site, site
):
    workflow = headline(site, holdout_percent=100)
    # Anti-flicker would hide the headline for up to 5 s: never for a held-out visitor.
    landing_site.head = tag(live_server.url, site, anti_flicker="5000", debug="true").replace(
        " async", ""
    )
    page = open_page(browser, landing_site)
    page.wait_for_function(LOADED)
    assert page.locator(HEADLINE).evaluate("h => getComputedStyle(h).visibility") == "visible"

    wait_until(lambda: Exposure.objects.filter(workflow=workflow).exists())
    page.wait_for_timeout(1500)  # room for a late change, or an execution, if one were made

    assert page.locator(HEADLINE).text_content() == ORIGINAL
    exposure = Exposure.objects.get()
    assert (exposure.workflow, exposure.held_out) == (workflow, True)
    assert exposure.visitor_id == page.evaluate("localStorage.getItem('wf_vid')")
    assert Execution.objects.count() == 0
    workflow.refresh_from_db()
    assert workflow.executions == 0
    assert "🧪 Held out of Headline" in page.console_lines


def test_without_consent_nothing_is_sent_or_stored_and_consent_sends_what_was_held(
    browser, live_server, landing_site, site
):
    workflow = headline(site)
    signup = goal(site, "Signed up", "click", selector=".signup-button")
    landing_site.body = BUTTON + tag(live_server.url, site, require_consent="", debug="true")
    context = browser.new_context()
    sent = tracking_requests(context)

    withheld = open_page(browser, landing_site, context=context)
    withheld.wait_for_function(APPLIED)
    withheld.click(".signup-button")
    withheld.wait_for_timeout(1000)
    assert withheld.evaluate(STORED) == []
    withheld.goto("about:blank")  # left: no beacon either
    withheld.wait_for_timeout(500)

    assert sent == []
    assert "🔒 Tracking off: waiting for consent" in withheld.console_lines
    assert recorded() == (0, 0, 0)

    given = open_page(browser, landing_site, context=context)
    given.wait_for_function(APPLIED)
    given.click(".signup-button")
    given.wait_for_timeout(500)
    assert sent == []
    given.evaluate("workflowSystem.consent(true)")

    wait_until(lambda: Execution.objects.filter(workflow=workflow).count() == 1)
    wait_until(lambda: conversions(signup) == 1)
    given.wait_for_timeout(1500)  # room for a resend to arrive, if one were sent
    visitor = given.evaluate("localStorage.getItem('wf_vid')")
    assert len(visitor) == 32
    assert conversions(signup, visitor) == 1
    assert Execution.objects.count() == 1
    assert "wf_visitor" in given.evaluate(STORED)


def test_consent_given_before_the_script_loaded_is_taken(browser, live_server, landing_site, site):
    workflow = headline(site)
    landing_site.body = "<script>window.workflowSystemConsent = true;</script>" + tag(
        live_server.url, site, require_consent=""
    )

    page = open_page(browser, landing_site)
    page.wait_for_function(APPLIED)

    wait_until(lambda: Execution.objects.filter(workflow=workflow).count() == 1)
    assert len(page.evaluate("localStorage.getItem('wf_vid')")) == 32


@pytest.mark.parametrize(
    ("signal", "name", "value"),
    [
        ("Global Privacy Control", "globalPrivacyControl", "true"),
        ("Do Not Track", "doNotTrack", "'1'"),
    ],
)
def test_do_not_track_and_global_privacy_control_send_and_store_nothing(
    browser, live_server, landing_site, site, signal, name, value
):
    headline(site)
    goal(site, "Signed up", "click", selector=".signup-button")
    goal(site, "Called", "call", event="signup")
    landing_site.body = BUTTON + tag(live_server.url, site, debug="true")
    context = browser.new_context()
    context.add_init_script(
        f"Object.defineProperty(Navigator.prototype, '{name}', "
        f"{{ get: () => {value}, configurable: true }});"
    )
    sent = tracking_requests(context)
    page = open_page(browser, landing_site, context=context)

    page.wait_for_function(APPLIED)
    page.click(".signup-button")
    page.evaluate("workflowSystem.goal('signup'); workflowSystem.consent(true)")  # they win
    page.wait_for_timeout(1500)
    assert page.evaluate(STORED) == []
    page.goto("about:blank")
    page.wait_for_timeout(500)

    assert sent == []
    assert f"🔒 Tracking off: {signal}" in page.console_lines
    assert recorded() == (0, 0, 0)


def test_a_conversion_is_kept_through_an_outage_and_counted_once(
    browser, live_server, landing_site, site
):
    signup = goal(site, "Signed up", "call", event="signup")
    landing_site.body = tag(live_server.url, site)
    context = browser.new_context()
    attempts = []

    def unavailable_once(route):
        attempts.append(1)
        if len(attempts) > 1:
            return route.continue_()
        route.fulfill(
            status=503,
            headers={"Access-Control-Allow-Origin": landing_site.origin, "Retry-After": "0"},
            body='{"success": false}',
        )

    context.route("**/api/track-conversion", unavailable_once)
    page = open_page(browser, landing_site, context=context)
    page.wait_for_function(LOADED)
    page.evaluate("workflowSystem.config.retryBaseMs = 200; workflowSystem.goal('signup')")

    # Waited for in the page: the route above answers only while Playwright is driven.
    page.wait_for_function(f"{QUEUED_CONVERSIONS}.includes('conversionId')")  # kept after the 503
    page.wait_for_function(f"{QUEUED_CONVERSIONS} === ''")
    wait_until(lambda: conversions(signup) == 1)
    page.wait_for_timeout(1000)  # room for a resend to arrive, if one were sent
    assert len(attempts) == 2
    assert conversions(signup) == 1
