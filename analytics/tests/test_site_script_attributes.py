"""A playbook never runs script on a customer's page through an attribute, whatever library the
page uses: the site script sets only the attributes the config lists, even when the config
serves one outside the list (a playbook stored before the list, or edited in the database)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings

from analytics.models import AnalyticsEvent, Execution
from analytics.tests.helpers import wait_until
from workflows.models import Site, SiteOrigin, Workflow

pytestmark = [
    pytest.mark.browser,
    pytest.mark.npm,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(settings.BASE_DIR)
VENDOR = {
    "/vendor/htmx.js": ROOT / "static" / "vendor" / "htmx-2.0.11.min.js",
    "/vendor/alpine.js": ROOT / "node_modules" / "alpinejs" / "dist" / "cdn.min.js",
    "/vendor/vue.js": ROOT / "node_modules" / "vue" / "dist" / "vue.global.prod.js",
}
# Each library starts after the playbooks have run, so that it reads what they set. The page's
# own controls show that each would indeed run script from such an attribute.
PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script>window.pwned = [];</script>
<script src="/vendor/htmx.js"></script>
<script defer src="/vendor/alpine.js"></script>
<script src="/vendor/vue.js"></script>
</head><body>
<button id="htmx">htmx</button><button id="htmx-control">htmx control</button>
<div x-data="{}"><button id="alpine">alpine</button><button id="alpine-control">alpine</button>
  <button id="alpine-short">alpine short</button></div>
<div id="vue-app"><p id="vue-html"></p><p id="vue-bind">vue bind</p>
  <p id="vue-control"></p></div>
<svg width="200" height="40"><a id="svg-link"><text x="5" y="20">svg link</text></a>
  <a id="svg-control"><text x="100" y="20">svg control</text></a></svg>
<img id="image" alt="" src="data:,">
<script>
  const control = (id, name, value) => document.getElementById(id).setAttribute(name, value);
  control("htmx-control", "hx-on:click", "pwned.push('htmx-control')");
  control("alpine-control", "x-on:click", "pwned.push('alpine-control')");
  control("vue-control", "v-html", "'<b id=vue-control-ran>ran</b>'");
  document.querySelector("#svg-control").setAttributeNS(
    "http://www.w3.org/1999/xlink", "xlink:href", "javascript:pwned.push('svg-control')");
  window.startLibraries = () => {
    htmx.process(document.body);
    Vue.createApp({}).mount("#vue-app");
  };
</script>
SCRIPT
</body></html>"""
FORBIDDEN = [
    ("#htmx", "hx-on:click", "pwned.push('htmx')"),
    ("#alpine", "x-on:click", "pwned.push('alpine')"),
    ("#alpine-short", "@click", "pwned.push('alpine-short')"),
    ("#vue-html", "v-html", "'<b id=vue-ran>ran</b>'"),
    ("#vue-bind", ":title", "pwned.push('vue-bind')"),
    ("#svg-link", "xlink:href", "javascript:pwned.push('svg')"),
    ("#image", "onerror", "pwned.push('image')"),
    ("#image", "src", "javascript:pwned.push('src')"),
]


@pytest.fixture
def customer_page(live_server, alice):
    """A customer's page using htmx, Alpine and Vue, on an origin of its own."""
    site = Site.objects.create(owner=alice, name="Framework shop")
    pages = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path in VENDOR:
                body, kind = VENDOR[self.path].read_bytes(), "text/javascript"
            else:
                body, kind = pages["page"].encode(), "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    SiteOrigin.objects.create(site=site, origin=origin)
    script = (
        f'<script async src="{live_server.url}/static/tracker/UnifiedWorkflowSystem.js"'
        f' data-site-key="{site.site_key}"></script>'
    )
    pages["page"] = PAGE.replace("SCRIPT", script)
    yield site, origin
    server.shutdown()
    server.server_close()


def test_attributes_outside_the_list_are_refused_on_pages_using_htmx_alpine_and_vue(
    browser, customer_page
):
    site, origin = customer_page
    actions = [
        {"type": "set_attribute", "selector": selector, "attribute": name, "value": value}
        for selector, name, value in FORBIDDEN
    ] + [{"type": "set_attribute", "selector": "#htmx", "attribute": "title", "value": "Hello"}]
    playbook = Workflow.objects.create(owner=site.owner, site=site, name="Attributes")
    # Stored as an old playbook or a database edit could have it: the server refuses these.
    Workflow.objects.filter(pk=playbook.pk).update(actions=actions)
    page = browser.new_page()

    page.goto(f"{origin}/")
    wait_until(lambda: Execution.objects.filter(workflow=playbook).exists())
    page.evaluate("startLibraries()")
    page.wait_for_timeout(300)
    for selector in ["#htmx", "#htmx-control", "#alpine", "#alpine-control", "#alpine-short",
                     "#vue-bind", "#svg-link", "#svg-control"]:  # fmt: skip
        page.click(selector)
    page.wait_for_timeout(300)

    # The page's own controls ran: each library would have run the playbook's attribute.
    pwned = page.evaluate("window.pwned")
    assert {"htmx-control", "alpine-control", "svg-control"} <= set(pwned)
    assert page.locator("#vue-control-ran").count() == 1
    # None of the playbook's did, and the one on the list was set.
    assert not set(pwned) & {"htmx", "alpine", "alpine-short", "vue-bind", "svg", "image", "src"}
    assert page.locator("#vue-ran").count() == 0
    assert page.get_attribute("#htmx", "title") == "Hello"
    for selector, name, value in FORBIDDEN:
        assert page.get_attribute(selector, name) != value
    execution = Execution.objects.get(workflow=playbook)
    assert execution.status == "error"
    errors = [event.event_data["error"] for event in AnalyticsEvent.objects.order_by("pk")]
    assert errors == [f"Attribute not allowed: {name}" for _, name, _ in FORBIDDEN] + [""]
