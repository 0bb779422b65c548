"""The site script in a real browser: a customer's page on one origin, the tracker on another."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from analytics.models import AnalyticsEvent, Execution
from analytics.tests.helpers import wait_until
from workflows.models import Site, SiteOrigin, Workflow

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

# Everything the page views of this site keep queued in localStorage, as one string.
QUEUED = (
    "Object.keys(localStorage).filter(key => key.startsWith('wf_queue:'"
    " + workflowSystem.config.siteKey)).map(key => localStorage.getItem(key)).join('')"
)
SHOP_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title><link rel="icon" href="data:,">
<style>.pricing-nudge {{ display: none }} .filler {{ height: 6000px }}</style></head>
<body>
  <div class="hero"><h1 class="hero-title">Understand every visit</h1>
  <a class="cta" href="#">Start your free trial</a>
  <button id="still-works" onclick="this.textContent = 'clicked'">click me</button></div>
  <div class="filler"></div>
  <h2 class="pricing-title">Pricing</h2><div class="pricing-nudge">Talk to sales</div>
  {scripts}
</body></html>"""


@pytest.fixture
def shop_server():
    """A customer's website: a real server of its own on another loopback origin. The page it
    serves is set by each test."""
    pages = {"scripts": ""}

    class ShopHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = SHOP_PAGE.format(scripts=pages["scripts"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ShopHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.pages = pages
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def shop(live_server, shop_server, alice):
    """Alice's shop on http://127.0.0.1:SHOP_PORT, with the tracker at http://localhost:PORT."""
    tracker = live_server.url
    shop_origin = f"http://127.0.0.1:{shop_server.server_address[1]}"
    site = Site.objects.create(owner=alice, name="Shop")
    SiteOrigin.objects.create(site=site, origin=shop_origin)

    def playbook(name: str, triggers: list, actions: list, match: str = "all") -> Workflow:
        return Workflow.objects.create(
            owner=alice,
            site=site,
            name=name,
            trigger_match=match,
            triggers=triggers,
            actions=actions,
        )

    playbooks = {
        "utm": playbook(
            "Newsletter headline",
            [{"type": "utm", "params": {"utm_source": "newsletter"}}],
            [
                {"type": "replace_text", "selector": ".hero-title", "text": "Welcome back!"},
                {"type": "add_class", "selector": ".hero", "className": "hero--campaign"},
            ],
        ),
        "mobile": playbook(
            "Mobile CTA",
            [{"type": "device", "devices": ["mobile"]}],
            [{"type": "replace_text", "selector": ".cta", "text": "Tap to start"}],
        ),
        "scroll": playbook(
            "Pricing nudge",
            [{"type": "scroll_depth", "percent": 50}],
            [{"type": "show", "selector": ".pricing-nudge"}],
        ),
        "broken": playbook(
            "Half broken",
            [{"type": "utm", "params": {"utm_campaign": "broken"}}],
            [
                {"type": "replace_text", "selector": ".does-not-exist", "text": "never"},
                {"type": "replace_text", "selector": ".cta", "text": "Still applied"},
            ],
        ),
    }
    paused = playbook("Paused", [], [{"type": "hide", "selector": "body"}])
    paused.status = Workflow.Status.PAUSED
    paused.save()

    script = f"{tracker}/static/tracker/UnifiedWorkflowSystem.js"
    default_scripts = f'<script async src="{script}" data-site-key="{site.site_key}"></script>'

    class Shop:
        origin = shop_origin
        workflows = playbooks

        @staticmethod
        def open(browser, query: str = "", scripts: str = default_scripts, context=None, **kw):
            shop_server.pages["scripts"] = scripts
            context = context or browser.new_context(**kw)
            page = context.new_page()
            page.console_lines = []
            page.errors = []
            page.on("console", lambda message: page.console_lines.append(message.text))
            page.on("pageerror", lambda error: page.errors.append(error))
            page.goto(f"{shop_origin}/shop/{query}")
            return page

    return Shop


def executions_of(workflow: Workflow) -> int:
    return Execution.objects.filter(workflow=workflow).count()


def test_a_utm_playbook_changes_the_page_and_is_recorded_once_with_timings(browser, shop):
    page = shop.open(browser, "?utm_source=newsletter")

    page.wait_for_function("document.querySelector('.hero-title').textContent === 'Welcome back!'")
    utm = shop.workflows["utm"]
    wait_until(lambda: executions_of(utm) == 1)
    page.wait_for_timeout(1000)

    assert page.locator(".hero").get_attribute("class") == "hero hero--campaign"
    utm.refresh_from_db()
    assert utm.executions == 1
    execution = Execution.objects.get(workflow=utm)
    assert execution.status == "success"
    assert execution.trigger_name == "UTM Parameters"
    assert execution.device_type == "desktop"
    assert execution.page_url == f"{shop.origin}/shop/?utm_source=newsletter"
    events = list(AnalyticsEvent.objects.filter(execution=execution).order_by("pk"))
    assert [e.element_selector for e in events] == [".hero-title", ".hero"]
    assert all(isinstance(e.event_data["executionTimeMs"], int) for e in events)
    assert [e.event_data["name"] for e in events] == ["Replace Text", "Add Class"]
    assert Execution.objects.count() == 1
    assert page.errors == []


def test_a_mobile_viewport_fires_only_the_mobile_playbook(browser, shop):
    iphone = {
        "viewport": {"width": 390, "height": 664},
        "user_agent": (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
        ),
        "is_mobile": True,
        "has_touch": True,
    }
    page = shop.open(browser, **iphone)

    page.wait_for_function("document.querySelector('.cta').textContent === 'Tap to start'")
    wait_until(lambda: executions_of(shop.workflows["mobile"]) == 1)
    page.wait_for_timeout(1000)

    assert Execution.objects.count() == 1
    assert Execution.objects.get().device_type == "mobile"
    assert page.locator(".hero-title").text_content() == "Understand every visit"


def test_scrolling_fires_the_scroll_playbook(browser, shop):
    page = shop.open(browser)
    page.wait_for_function("window.workflowSystem && window.workflowSystem.workflows.length === 4")
    page.wait_for_timeout(500)
    assert not page.locator(".pricing-nudge").is_visible()
    assert Execution.objects.count() == 0

    page.mouse.wheel(0, 2500)

    page.locator(".pricing-nudge").wait_for(state="visible")
    wait_until(lambda: executions_of(shop.workflows["scroll"]) == 1)
    assert Execution.objects.get().trigger_name == "Scroll Depth"


def test_a_failing_action_gives_an_error_execution_and_the_others_still_apply(browser, shop):
    page = shop.open(browser, "?utm_campaign=broken")

    page.wait_for_function("document.querySelector('.cta').textContent === 'Still applied'")
    broken = shop.workflows["broken"]
    wait_until(lambda: executions_of(broken) == 1, timeout=15)

    execution = Execution.objects.get(workflow=broken)
    assert execution.status == "error"
    failed, applied = AnalyticsEvent.objects.filter(execution=execution).order_by("pk")
    assert failed.event_type == "action_failed"
    assert failed.event_data["error"] == "Element not found: .does-not-exist"
    assert applied.event_type == "action_executed"
    assert page.errors == []


def test_with_tracking_down_the_page_works_and_the_execution_arrives_later_once(browser, shop):
    context = browser.new_context()
    context.route("**/api/track-execution", lambda route: route.fulfill(status=503, body="down"))
    page = shop.open(browser, "?utm_source=newsletter", context=context)

    page.wait_for_function("document.querySelector('.hero-title').textContent === 'Welcome back!'")
    page.click("#still-works")
    assert page.locator("#still-works").text_content() == "clicked"
    page.wait_for_function(f"{QUEUED}.includes('executionId')")
    page.wait_for_timeout(1500)  # retries keep failing
    assert Execution.objects.count() == 0
    assert page.errors == []

    context.unroute("**/api/track-execution")
    later = shop.open(browser, "", context=context)

    utm = shop.workflows["utm"]
    wait_until(lambda: executions_of(utm) == 1)
    later.wait_for_function(f"{QUEUED} === ''")
    later.wait_for_timeout(1000)  # room for a stray duplicate to arrive, if one were sent
    utm.refresh_from_db()
    assert utm.executions == 1
    assert Execution.objects.count() == 1


def test_debug_mode_prints_the_spec_lines(browser, shop):
    page = shop.open(browser, "?utm_source=newsletter&wf_debug=1")

    wait_until(lambda: executions_of(shop.workflows["utm"]) == 1)
    page.wait_for_function("document.querySelector('.hero-title').textContent === 'Welcome back!'")
    execution_id = Execution.objects.get().execution_id
    page.wait_for_timeout(500)

    assert "🎯 Workflow triggered: Newsletter headline by UTM Parameters" in page.console_lines
    assert "📊 Tracking execution for workflow: Newsletter headline" in page.console_lines
    assert f"✅ Execution tracked successfully: {execution_id}" in page.console_lines


def test_without_debug_mode_the_console_stays_quiet(browser, shop):
    page = shop.open(browser, "?utm_source=newsletter")

    wait_until(lambda: executions_of(shop.workflows["utm"]) == 1)
    page.wait_for_timeout(300)

    assert page.console_lines == []


def test_the_legacy_executor_runs_a_definition_through_the_same_tracking(
    browser, shop, live_server
):
    site_key = Site.objects.get(name="Shop").site_key
    scripts = f'<script src="{live_server.url}/static/tracker/WorkflowExecutor.js"></script>'
    page = shop.open(browser, scripts=scripts)
    utm = shop.workflows["utm"]

    record = page.evaluate(
        """([siteKey, id]) => new WorkflowExecutor({ siteKey }).execute(
            { id, name: "Newsletter headline",
              actions: [{ type: "replace_text", selector: ".hero-title", text: "Legacy!" }] },
            "Legacy")""",
        [site_key, str(utm.public_id)],
    )

    assert record["status"] == "success"
    assert page.locator(".hero-title").text_content() == "Legacy!"
    wait_until(lambda: executions_of(utm) == 1)
    execution = Execution.objects.get()
    assert execution.trigger_name == "Legacy"
    assert execution.client_execution_id == record["executionId"]
