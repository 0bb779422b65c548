"""Every page on a phone and on a desktop, in Chromium: nothing scrolls sideways, chart text is
readable, and axe-core (from its npm package, served locally) finds nothing serious.

`SCREENSHOTS=1 make test ARGS="analytics/tests/test_pages_on_screens.py"` also writes each page
to docs/screenshots/ at both widths."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from analytics.management.commands.load_demo import DEMO_PASSWORD, DEMO_USERNAME
from analytics.models import Execution
from workflows.models import Goal, Site, Workflow

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
PHONE, DESKTOP = 390, 1440
PHONES = [360, PHONE, 414]
SMALLEST_CHART_TEXT_PX = 11


def signed_out_pages() -> dict[str, str]:
    return {"login": "/accounts/login/", "signup": "/accounts/signup/"}


def signed_in_pages() -> dict[str, str]:
    workflow = Workflow.objects.filter(owner__username=DEMO_USERNAME).order_by("pk").first()
    site = Site.objects.filter(owner__username=DEMO_USERNAME).order_by("pk").first()
    failed = Execution.objects.filter(workflow=workflow, status="error").first()
    goal = Goal.objects.filter(owner__username=DEMO_USERNAME).order_by("pk").first()
    return {
        "overview": "/",
        "overview-24h": "/?range=24h",
        "playbooks": "/playbooks/",
        "playbook": f"/playbooks/{workflow.public_id}/",
        "playbook-edit": f"/playbooks/{workflow.public_id}/edit/",
        "playbook-new": "/playbooks/new/",
        "analytics": "/analytics/",
        "analytics-mobile-errors": "/analytics/?device=mobile&status=error",
        "execution": f"/executions/exec-{failed.public_id.hex}/",
        "sites": "/sites/",
        "site-new": "/sites/new/",
        "site-edit": f"/sites/{site.public_id}/",
        "site-rotate-key": f"/sites/{site.public_id}/rotate-key/",
        "settings": "/settings/",
        "password-change": "/accounts/password_change/",
        "goals": "/goals/",
        "goal-new": "/goals/new/",
        "goal-edit": f"/goals/{goal.public_id}/edit/",
        "goal-delete": f"/goals/{goal.public_id}/delete/",
    }


@pytest.fixture
def demo(live_server):
    call_command("load_demo", executions=300, force=True, verbosity=0)
    return live_server


@pytest.fixture
def open_page(browser):
    """A new page `width` pixels wide. It bypasses the dashboard's Content-Security-Policy, which
    refuses injected scripts, so that axe can be added as an extension would."""
    contexts = []

    def open_page(width: int):
        contexts.append(
            browser.new_context(bypass_csp=True, viewport={"width": width, "height": 900})
        )
        return contexts[-1].new_page()

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page, base_url: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", DEMO_USERNAME)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def visit_every_page(page, base_url: str):
    """Open each page in turn, signed out first, then as the demo user; yield its name."""
    pages = signed_out_pages()
    for name, path in pages.items():
        page.goto(base_url + path)
        yield name
    sign_in(page, base_url)
    for name, path in signed_in_pages().items():
        response = page.goto(base_url + path)
        assert response.ok, f"{name}: {response.status}"
        yield name


def sideways_scroll(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def smallest_chart_text(page) -> float | None:
    """The smallest font size, in CSS pixels on screen, of the visible text of any chart."""
    return page.evaluate(
        """() => {
          const sizes = [...document.querySelectorAll('svg text')]
            .filter(text => text.checkVisibility())
            .map(text => parseFloat(getComputedStyle(text).fontSize) * text.getScreenCTM().a);
          return sizes.length ? Math.min(...sizes) : null;
        }"""
    )


def serious_axe_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def test_every_page_fits_a_phone_without_sideways_scroll(demo, open_page):
    page = open_page(PHONE)
    too_wide = {}
    for name in visit_every_page(page, demo.url):
        for width in PHONES:
            page.set_viewport_size({"width": width, "height": 900})
            if overflow := sideways_scroll(page):
                too_wide[f"{name} at {width} px"] = overflow
    assert too_wide == {}, "pages wider than the screen, by how many pixels"


def test_chart_text_is_readable_on_a_phone(demo, open_page):
    page = open_page(PHONE)
    charts, too_small = 0, {}
    for name in visit_every_page(page, demo.url):
        smallest = smallest_chart_text(page)
        if smallest is not None:
            charts += 1
            if smallest < SMALLEST_CHART_TEXT_PX:
                too_small[name] = round(smallest, 1)
    assert charts >= 3, "the overview, a playbook and analytics each draw a chart"
    assert too_small == {}


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm ci)")
@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_no_page_has_a_serious_accessibility_violation(demo, open_page, width):
    page = open_page(width)
    found, checked = {}, 0
    for name in visit_every_page(page, demo.url):
        if os.environ.get("SCREENSHOTS"):
            page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
        checked += 1
        if violations := serious_axe_violations(page):
            found[name] = violations
    assert checked == len(signed_out_pages()) + 19
    assert not found, "\n".join(f"{name}: {v}" for name, v in found.items())
