"""How soon a playbook's change shows on a customer's page, and whether the original shows first.

Chromium loads Start Bootstrap's landing page theme (from its npm package) on an origin of its
own, with the site script from the tracker under gunicorn (production settings, SQLite) and one
playbook replacing the headline. For each way of embedding the script (async at the end of the
body, as the install snippet has it; with data-anti-flicker="300" in the head), cold (a first
visit: nothing cached) and warm (a returning visitor), it reports DOMContentLoaded to the change
applied and how long the original headline was on screen first.

    make bench-site-script      # or: .venv/bin/python bench/site_script.py [--loads 15]
"""

import argparse
import csv
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import ROOT, free_port, manage

sys.path.insert(0, str(ROOT))

from analytics.tests.agents import VISITOR_USER_AGENT  # noqa: E402
from analytics.tests.pages import LandingSite  # noqa: E402

HEADLINE = ".masthead h1"
ORIGINAL = "Generate more leads with a professional landing page!"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # A visitor's browser: headless Chrome names itself a bot, and the tracker counts no bots.
    f"--user-agent={VISITOR_USER_AGENT}",
]  # fmt: skip
# Frame by frame from the page's first: when the headline first showed the original text, and
# when it changed.
WATCH = f"""
window.measure = {{ originalAt: null, appliedAt: null, dcl: null }};
document.addEventListener("DOMContentLoaded", () => (measure.dcl = performance.now()));
const look = () => {{
  const headline = document.querySelector("{HEADLINE}");
  if (headline) {{
    const shown = getComputedStyle(headline).visibility !== "hidden";
    if (headline.textContent !== "{ORIGINAL}") measure.appliedAt ??= performance.now();
    else if (shown) measure.originalAt ??= performance.now();
  }}
  if (measure.appliedAt === null) requestAnimationFrame(look);
}};
requestAnimationFrame(look);
"""
SETUP = """
from django.contrib.auth import get_user_model
from workflows.models import Site, SiteOrigin, Workflow
user = get_user_model().objects.create_user("bench")
site = Site.objects.create(owner=user, name="Landing")
SiteOrigin.objects.create(site=site, origin="ORIGIN")
Workflow.objects.create(owner=user, site=site, name="Headline",
    actions=[{"type": "replace_text", "selector": ".masthead h1", "text": "Welcome back"}])
print("KEY", site.site_key)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=15, help="page loads per case")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="tracker-site-script-"))
    landing = LandingSite()
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "site-script-bench-" + "s" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "REDIS_URL": "",
        "STATIC_ROOT": str(work / "static"),
        "GUNICORN_CONTROL_SOCKET": str(work / "gunicorn.ctl"),
    }
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    key = manage(env, "shell", "-v0", "-c", SETUP.replace("ORIGIN", landing.origin)).split()[-1]
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "tracker.wsgi", "-b", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env, stderr=open(work / "gunicorn.log", "w"),  # noqa: SIM115
    )  # fmt: skip
    script = f"http://127.0.0.1:{port}/static/tracker/UnifiedWorkflowSystem.js"
    tag = f'<script src="{script}" data-site-key="{key}"'
    ways = {  # where the tag goes: (in the head, at the end of the body)
        "async tag at the end of the body": ("", f"{tag} async></script>"),
        'data-anti-flicker="300", tag in the head': (
            f'{tag} data-anti-flicker="300"></script>',
            "",
        ),
    }
    results = []
    try:
        wait_for(port)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            for way, (head, body) in ways.items():
                landing.head, landing.body = head, body
                for visit in ("cold", "warm"):
                    loads = [load(browser, landing, visit) for _ in range(args.loads)]
                    results.append((way, visit, loads))
                    print(f"{way}, {visit}: {summary(loads)}", flush=True)
            browser.close()
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=30)
        landing.close()
    report(results, args)


def load(browser, landing: LandingSite, visit: str) -> dict:
    context = browser.new_context()
    context.add_init_script(WATCH)
    if visit == "warm":  # a returning visitor: the script cached, the site's targets known
        warm_up = context.new_page()
        warm_up.goto(landing.origin)
        warm_up.wait_for_function("measure.appliedAt !== null", timeout=10_000)
        warm_up.close()
    page = context.new_page()
    page.goto(landing.origin)
    page.wait_for_function("measure.appliedAt !== null", timeout=10_000)
    measure = page.evaluate("measure")
    context.close()
    original = measure["originalAt"]
    return {
        "applied_after_dcl_ms": measure["appliedAt"] - measure["dcl"],
        "original_shown_ms": measure["appliedAt"] - original if original is not None else 0.0,
    }


def summary(loads: list[dict]) -> str:
    applied = statistics.median(load["applied_after_dcl_ms"] for load in loads)
    shown = statistics.median(load["original_shown_ms"] for load in loads)
    flickered = sum(load["original_shown_ms"] > 0 for load in loads)
    return (
        f"DOMContentLoaded to applied {applied:.0f} ms (median); original on screen"
        f" {shown:.0f} ms (median), in {flickered} of {len(loads)} loads"
    )


def report(results: list, args) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    lines = [
        f"# Site script: a playbook's change on screen, commit {commit}, {stamp} UTC",
        "",
        f"Chromium (headless), the landing page theme on its own origin, the tracker under"
        f" gunicorn on 127.0.0.1; {args.loads} page loads per case, each in a new browser"
        " context (a warm one first visited the page once).",
        "",
        "| embedding | visit | DOMContentLoaded to applied, median ms | p90 ms |"
        " original on screen, median ms | max ms | loads where it showed |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = []
    for way, visit, loads in results:
        applied = sorted(load["applied_after_dcl_ms"] for load in loads)
        shown = sorted(load["original_shown_ms"] for load in loads)
        flickered = sum(value > 0 for value in shown)
        p90 = applied[min(len(applied) - 1, int(0.9 * len(applied)))]
        lines.append(
            f"| {way} | {visit} | {statistics.median(applied):.0f} | {p90:.0f} |"
            f" {statistics.median(shown):.0f} | {max(shown):.0f} | {flickered} of {len(loads)} |"
        )
        rows.append([stamp, commit, way, visit, len(loads), round(statistics.median(applied), 1),
                     round(p90, 1), round(statistics.median(shown), 1), round(max(shown), 1),
                     flickered])  # fmt: skip
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    out = ROOT / "bench" / "results"
    (out / "site-script-latest.md").write_text(text)
    history = out / "site-script-history.csv"
    new_file = not history.exists()
    with history.open("a", newline="") as file:
        writer = csv.writer(file)
        if new_file:
            writer.writerow(
                ["date", "commit", "embedding", "visit", "loads", "applied_after_dcl_median_ms",
                 "applied_after_dcl_p90_ms", "original_shown_median_ms", "original_shown_max_ms",
                 "loads_with_original_shown"]
            )  # fmt: skip
        writer.writerows(rows)


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not start")
        time.sleep(0.1)


if __name__ == "__main__":
    main()
