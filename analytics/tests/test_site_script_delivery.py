"""Executions made on a customer's page = executions counted, each once: the site script on a
real third-party page (Start Bootstrap's landing page theme, from npm) on an origin of its own,
in Chromium, with tabs at once, refusals, outages and visitors who leave."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings

from analytics.models import AnalyticsEvent, Execution
from analytics.tests.helpers import wait_for_console_line, wait_until
from workflows.models import Site, SiteOrigin, Workflow

pytestmark = [
    pytest.mark.browser,
    pytest.mark.npm,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

HEADLINE = ".masthead h1"
ORIGINAL = "Generate more leads with a professional landing page!"
QUEUED = (
    "Object.keys(localStorage).filter(key => key.startsWith('wf_queue:'))"
    ".map(key => localStorage.getItem(key)).join('')"
)


@pytest.fixture
def site(alice, landing_site):
    site = Site.objects.create(owner=alice, name="Landing")
    SiteOrigin.objects.create(site=site, origin=landing_site.origin)
    return site


def playbook(site, name, actions, triggers=()) -> Workflow:
    return Workflow.objects.create(
        owner=site.owner, site=site, name=name, triggers=list(triggers), actions=actions
    )


def replace(selector: str, text: str) -> dict:
    return {"type": "replace_text", "selector": selector, "text": text}


def tag(server: str, site: Site, **attributes: str) -> str:
    extra = "".join(
        f' data-{name.replace("_", "-")}="{value}"' for name, value in attributes.items()
    )
    return (
        f'<script async src="{server}/static/tracker/UnifiedWorkflowSystem.js"'
        f' data-site-key="{site.site_key}"{extra}></script>'
    )


def open_page(browser, landing_site, path="/", context=None, **options):
    context = context or browser.new_context(**options)
    page = context.new_page()
    page.console_lines = []
    page.on("console", lambda message: page.console_lines.append(message.text))
    page.goto(f"{landing_site.origin}{path}")
    return page


def counted(workflow=None) -> int:
    executions = Execution.objects.all()
    return executions.filter(workflow=workflow).count() if workflow else executions.count()


def test_in_page_links_are_not_page_views_and_a_new_path_is(
    browser, live_server, landing_site, site
):
    headline = playbook(
        site,
        "Headline",
        [replace(HEADLINE, "Leads, delivered."),
         {"type": "insert_after", "selector": HEADLINE, "text": "Now with reports."}],
    )  # fmt: skip
    landing_site.body = tag(live_server.url, site)
    page = open_page(browser, landing_site)
    wait_until(lambda: counted(headline) == 1)

    page.click("a.navbar-brand")  # href="#!"
    page.click("a[href='#signup']")
    page.wait_for_timeout(1500)
    assert counted(headline) == 1
    assert page.locator(".wf-inserted").count() == 1  # not inserted a second time

    page.evaluate("history.pushState({}, '', '/pricing?plan=pro')")
    wait_until(lambda: counted(headline) == 2)
    assert sorted(Execution.objects.values_list("page_url", flat=True)) == [
        f"{landing_site.origin}/",
        f"{landing_site.origin}/pricing?plan=pro",
    ]


def test_scroll_depth_counts_what_is_seen_from_the_first_paint(
    browser, live_server, landing_site, site
):
    halfway = playbook(
        site,
        "Halfway",
        [replace(".showcase h2", "Seen!")],
        [{"type": "scroll_depth", "percent": 50}],
    )
    landing_site.body = tag(live_server.url, site)

    # The whole page fits a very tall window: seen whole without a scroll.
    tall = open_page(browser, landing_site, viewport={"width": 1280, "height": 6000})
    wait_until(lambda: counted(halfway) == 1)
    assert Execution.objects.get().trigger_name == "Scroll Depth"
    # On a laptop screen, only once the visitor scrolls.
    laptop = open_page(browser, landing_site, viewport={"width": 1280, "height": 800})
    laptop.wait_for_function("window.workflowSystem && window.workflowSystem.rules")
    laptop.wait_for_timeout(800)
    assert counted(halfway) == 1
    laptop.mouse.wheel(0, 100_000)
    wait_until(lambda: counted(halfway) == 2)
    tall.close()


def test_a_run_the_visitor_leaves_is_recorded_with_the_actions_applied(
    browser, live_server, landing_site, site
):
    waiting = playbook(
        site,
        "Two steps",
        [replace(HEADLINE, "Step one"), replace(".appears-later", "Step two")],
    )
    landing_site.body = tag(live_server.url, site)
    page = open_page(browser, landing_site)
    page.wait_for_function(f"document.querySelector('{HEADLINE}').textContent === 'Step one'")

    page.goto(f"{live_server.url}/accounts/login/")  # left while step two waits for its element

    wait_until(lambda: counted(waiting) == 1)
    execution = Execution.objects.get()
    assert execution.status == "timeout"
    first, second = AnalyticsEvent.objects.filter(execution=execution).order_by("pk")
    assert (first.element_selector, first.event_type) == (HEADLINE, "action_executed")
    assert second.event_data["error"] == "The visitor left the page before this action finished"


def test_eight_tabs_opened_together_with_five_executions_each_count_forty(
    browser, live_server, landing_site, site
):
    # Spread over the first second, so that tabs queue while others send and forget.
    playbooks = [
        playbook(
            site,
            f"Playbook {n}",
            [replace(HEADLINE, f"Text {n}")],
            [{"type": "time_on_page", "seconds": n / 4}],
        )
        for n in range(5)
    ]
    landing_site.body = tag(live_server.url, site)
    context = browser.new_context()
    tabs = [context.new_page() for _ in range(8)]

    for tab in tabs:  # opened one after the other without waiting: their scripts run together
        tab.goto(landing_site.origin, wait_until="commit")
    wait_until(lambda: counted() >= 40, timeout=30)
    for tab in tabs:
        tab.wait_for_function(f"{QUEUED} === ''")
    tabs[0].wait_for_timeout(1500)  # room for a resend to arrive, if one were sent

    assert counted() == 40
    assert [counted(workflow) for workflow in playbooks] == [8] * 5
    assert Execution.objects.values("client_execution_id").distinct().count() == 40


def test_a_tight_rate_limit_delays_executions_but_loses_none(
    browser, live_server, landing_site, site, settings
):
    settings.TRACKING_RATELIMIT_SITE = "2/3s"
    playbooks = [
        playbook(site, f"Playbook {n}", [replace(HEADLINE, f"Text {n}")]) for n in range(2)
    ]
    landing_site.body = tag(live_server.url, site)
    page = open_page(browser, landing_site)
    limited = []
    page.on("response", lambda r: r.status == 429 and limited.append(r.headers))
    page.wait_for_function("window.workflowSystem && window.workflowSystem.rules")

    for view in range(6):  # six more page views of a single-page app, two executions each
        page.evaluate(f"history.pushState({{}}, '', '/step-{view}')")
        page.wait_for_timeout(400)
    made = 7 * 2  # the first page view and six more, two playbooks each
    wait_until(lambda: counted() >= made, timeout=60)
    page.wait_for_function(f"{QUEUED} === ''", timeout=30_000)

    assert limited, "the limit was never reached"
    for headers in limited:  # readable by the page, Retry-After included
        assert headers["access-control-allow-origin"] == landing_site.origin
        assert headers["access-control-expose-headers"] == "Retry-After"
        assert int(headers["retry-after"]) >= 1
    page.wait_for_timeout(1000)  # room for a resend to arrive, if one were sent
    assert counted() == made and [counted(w) for w in playbooks] == [7, 7]


def test_an_execution_is_kept_through_any_number_of_failures_until_the_server_takes_it(
    browser, live_server, landing_site, site
):
    headline = playbook(site, "Headline", [replace(HEADLINE, "Kept")])
    landing_site.body = tag(live_server.url, site)
    context = browser.new_context()
    attempts = []

    def unavailable(route):
        attempts.append(1)
        route.fulfill(
            status=503,
            headers={"Access-Control-Allow-Origin": landing_site.origin, "Retry-After": "0"},
            body='{"success": false}',
        )

    context.route("**/api/track-execution", unavailable)
    page = open_page(browser, landing_site, context=context)
    page.evaluate("workflowSystem.config.retryBaseMs = 20; workflowSystem.config.retryMaxMs = 40")
    page.wait_for_function(f"{QUEUED}.includes('executionId')")
    page.wait_for_timeout(2000)
    assert len(attempts) > 12  # the script used to give up after 8
    assert counted() == 0

    context.unroute("**/api/track-execution")
    wait_until(lambda: counted(headline) == 1)
    page.wait_for_function(f"{QUEUED} === ''")


def test_refused_for_good_is_dropped_and_a_full_queue_counts_what_it_drops(
    browser, live_server, landing_site, site
):
    for n in range(5):
        playbook(site, f"Playbook {n}", [replace(HEADLINE, f"Text {n}")])
    landing_site.body = tag(live_server.url, site, debug="true", max_queue="3")
    context = browser.new_context()
    context.route("**/api/track-execution", lambda route: route.abort())
    page = open_page(browser, landing_site, context=context)

    page.wait_for_function("workflowSystem.tracker.dropped === 2")
    wait_for_console_line(page, "❌ Tracking queue full: 2 execution(s) dropped so far")
    assert page.evaluate("workflowSystem.tracker.queue.length") == 3

    context.unroute("**/api/track-execution")
    refusal = {"success": False, "errors": {"siteKey": ["Unknown site key."]}}
    context.route(
        "**/api/track-execution",
        lambda route: route.fulfill(
            status=401,
            headers={"Access-Control-Allow-Origin": landing_site.origin},
            body=json.dumps(refusal),
        ),
    )
    page.evaluate("workflowSystem.flush()")
    page.wait_for_function(f"{QUEUED} === ''")
    wait_for_console_line(page, "❌ Execution refused (HTTP 401), not sent again")
    assert counted() == 0


def test_debug_mode_names_a_request_the_pages_content_security_policy_refused(
    browser, live_server, landing_site, site
):
    playbook(site, "Headline", [replace(HEADLINE, "Blocked")])
    landing_site.head = '<meta http-equiv="Content-Security-Policy" content="connect-src \'self\'">'
    landing_site.body = tag(live_server.url, site, debug="true")
    page = open_page(browser, landing_site)

    page.wait_for_function("window.workflowSystem")
    page.wait_for_timeout(1500)

    assert any(
        line.startswith("❌ The page's Content-Security-Policy (connect-src) refused "
                        f"{live_server.url}/api/sites/")
        for line in page.console_lines
    ), page.console_lines  # fmt: skip
    assert counted() == 0


# What the page showed, frame by frame, from its first frame: for anti-flicker.
FRAMES = f"""
window.shown = [];
const look = () => {{
  const headline = document.querySelector("{HEADLINE}");
  if (headline) {{
    const style = getComputedStyle(headline);
    window.shown.push({{
      at: performance.now(),
      visible: style.visibility !== "hidden",
      text: headline.textContent,
      body: getComputedStyle(document.body).visibility,
    }});
  }}
  requestAnimationFrame(look);
}};
requestAnimationFrame(look);
"""


def test_anti_flicker_hides_the_targets_not_the_page_and_never_longer_than_its_bound(
    browser, live_server, landing_site, site
):
    playbook(site, "Headline", [replace(HEADLINE, "Welcome back")])
    # A bound the playbooks arrive within even on a loaded machine; the 300 ms one is below.
    landing_site.head = tag(live_server.url, site, anti_flicker="1500").replace(" async", "")
    context = browser.new_context()
    context.add_init_script(FRAMES)

    warm_up = open_page(browser, landing_site, context=context)  # the targets are cached
    warm_up.wait_for_function(f"document.querySelector('{HEADLINE}').textContent !== '{ORIGINAL}'")
    warm = open_page(browser, landing_site, context=context)
    warm.wait_for_function(f"document.querySelector('{HEADLINE}').textContent !== '{ORIGINAL}'")
    warm.wait_for_timeout(200)
    frames = warm.evaluate("window.shown")

    # The original headline was never on screen, the page itself always was.
    assert frames and not [f for f in frames if f["visible"] and f["text"] == ORIGINAL]
    assert {f["body"] for f in frames} == {"visible"}
    assert frames[-1]["visible"] and frames[-1]["text"] == "Welcome back"

    # When the playbooks take long to arrive, the headline shows after the bound anyway.
    def slow_config(route):
        time.sleep(1.5)
        route.continue_()

    context.route("**/api/sites/**", slow_config)
    landing_site.head = tag(live_server.url, site, anti_flicker="300").replace(" async", "")
    slow = open_page(browser, landing_site, context=context)
    slow.wait_for_timeout(1000)
    frames = slow.evaluate("window.shown")
    hidden = [f["at"] for f in frames if not f["visible"]]
    # Hidden for 300 ms from the script's start (the page's first frames come a little after
    # it), and never again once the playbooks arrive late.
    assert hidden and max(hidden) - frames[0]["at"] < 600
    assert frames[-1]["visible"]


class Tracker:
    """The tracker as its own gunicorn, on the test database, that a test can kill (SIGKILL,
    every process) and bring back on the same port."""

    def __init__(self, **env: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        database = settings.DATABASES["default"]
        self.env = {
            **{key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")},
            "DEBUG": "1",  # static files from the source folders
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:"
            f"{database['PORT']}/{database['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "GUNICORN_CONTROL_SOCKET": f"/tmp/tracker-browser-{self.port}.ctl",
            **env,
        }
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "tracker.wsgi", "-b", f"127.0.0.1:{self.port}"],
            cwd=settings.BASE_DIR, env=self.env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.mark.redis
@pytest.mark.slow
def test_executions_made_equal_executions_counted_with_the_tracker_killed_and_rate_limited(
    browser, landing_site, site
):
    tracker = Tracker(TRACKING_RATELIMIT_SITE="3/s", SECURE_SSL_REDIRECT="0")
    try:
        playbooks = [
            playbook(site, f"Playbook {n}", [replace(HEADLINE, f"Text {n}")]) for n in (1, 2)
        ]
        landing_site.body = tag(tracker.url, site)
        context = browser.new_context()
        tabs = [context.new_page() for _ in range(4)]
        for tab in tabs:
            tab.goto(landing_site.origin)
        for tab in tabs:
            tab.wait_for_function("window.workflowSystem && window.workflowSystem.rules")

        tracker.kill()
        for view in range(2):  # two more page views in every tab while the tracker is gone
            for tab in tabs:
                tab.evaluate(f"history.pushState({{}}, '', '/while-down-{view}')")
            tabs[0].wait_for_timeout(700)
        tracker.start()

        made = 4 * 3 * 2  # tabs x page views x playbooks
        wait_until(lambda: counted() >= made, timeout=90)
        for tab in tabs:
            tab.wait_for_function(f"{QUEUED} === ''", timeout=60_000)
        tabs[0].wait_for_timeout(2000)
    finally:
        tracker.kill()

    assert counted() == made
    assert [counted(w) for w in playbooks] == [12, 12]
    assert Execution.objects.values("client_execution_id").distinct().count() == made
