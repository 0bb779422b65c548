"""Dashboard server time with one user owning 200 playbooks and 1,000,000 then 10,000,000
executions (one action event each), spread over 90 days; a fifth as many visitors exposed (a
tenth of them held out, by the playbooks with a holdout group), a tenth as many conversions on
10 goals, and what bots sent each day.

Seeds a database of its own (tracker_dashboards) with SQL, keeps the counters and the hourly
rollup exactly as the write path would, then renders each dashboard page in-process with
production settings, as a gunicorn worker serves it, and reports p50/p95 over 30 requests per
page at each size.

    make bench-dashboards      # or: .venv/bin/python bench/dashboards.py [--sizes 1000000 10000000]

`--measure-only` measures the database the last run seeded; `--baseline REV` measures another
commit beside this one, taking turns, and `--passes N` repeats the measurement (medians of the
passes are reported), since the machine's speed drifts within minutes.
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from common import ROOT, checkout

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
DATABASE = "tracker_dashboards"
PLAYBOOKS = 200
REQUESTS = 30

ADD_EXECUTIONS = """
INSERT INTO analytics_execution (public_id, workflow_id, owner_id, status, execution_time_ms,
    page_url, session_id, device_type, trigger_name, client_user_id, client_execution_id,
    executed_at, received_at)
SELECT gen_random_uuid(), %(first)s::bigint + (g %% %(playbooks)s), %(owner)s::bigint,
    CASE WHEN g %% 20 = 0 THEN 'error' WHEN g %% 97 = 0 THEN 'timeout' ELSE 'success' END,
    20 + (g * 7919) %% 400, 'https://example.com/pricing', '',
    (ARRAY['desktop', 'mobile', 'tablet'])[1 + g %% 3], 'UTM Parameters', '', NULL,
    now() - (random() * interval '90 days'), now()
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g
"""
ADD_EVENTS = """
INSERT INTO analytics_analyticsevent (workflow_id, execution_id, event_type, element_selector,
    page_url, event_data, created_at)
SELECT workflow_id, id, 'action_executed', '.hero-title', page_url,
    jsonb_build_object('name', 'Replace Text', 'executionTimeMs', execution_time_ms / 4,
                       'error', ''), executed_at
FROM analytics_execution WHERE id > %(after)s
"""
GOALS = 10
# Every tenth playbook has a holdout group; visitors, exposures and conversions for rows
# start..stop of each kind.
ADD_GOALS = [
    """INSERT INTO workflows_goal (public_id, owner_id, site_id, name, kind, selector, match,
        path, event, created_at)
       SELECT gen_random_uuid(), %(owner)s, (SELECT site_id FROM workflows_workflow LIMIT 1),
           'Goal ' || g, 'call', '', '', '', 'goal-' || g, now()
       FROM generate_series(1, %(goals)s) AS g""",
    "UPDATE workflows_workflow SET holdout_percent = 10 WHERE (id - %(first)s) %% 10 = 0",
]
ADD_EXPOSURES = """
INSERT INTO analytics_exposure (workflow_id, owner_id, visitor_id, held_out, exposed_at)
SELECT %(first)s::bigint + (g %% %(playbooks)s), %(owner)s, 'v' || g,
    (g %% %(playbooks)s) %% 10 = 0 AND g %% 10 = 0, now() - (random() * interval '90 days')
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g
"""
ADD_CONVERSIONS = """
INSERT INTO analytics_conversion (goal_id, owner_id, visitor_id, day, converted_at,
    received_at, page_url)
SELECT goal.first + g %% %(goals)s, %(owner)s, 'v' || (g * 2), moment::date, moment, moment,
    'https://example.com/thanks'
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g,
    LATERAL (SELECT now() - (random() * interval '90 days') AS moment) AS at,
    (SELECT min(id) AS first FROM workflows_goal) AS goal
"""
# The rollups and counters as record_executions keeps them, rebuilt from the rows.
REBUILD = [
    "TRUNCATE analytics_hourlystat",
    """INSERT INTO analytics_hourlystat (workflow_id, owner_id, hour, executions, errors,
        timeouts, desktop, mobile, tablet, total_time_ms)
       SELECT workflow_id, owner_id, date_trunc('hour', executed_at), count(*),
           count(*) FILTER (WHERE status = 'error'), count(*) FILTER (WHERE status = 'timeout'),
           count(*) FILTER (WHERE device_type = 'desktop'),
           count(*) FILTER (WHERE device_type = 'mobile'),
           count(*) FILTER (WHERE device_type = 'tablet'), sum(execution_time_ms)
       FROM analytics_execution GROUP BY 1, 2, 3""",
    "TRUNCATE analytics_dailystat",
    """INSERT INTO analytics_dailystat (workflow_id, owner_id, day, executions, errors, timeouts,
        desktop, mobile, tablet, total_time_ms)
       SELECT workflow_id, owner_id, (hour AT TIME ZONE 'UTC')::date, sum(executions),
           sum(errors), sum(timeouts), sum(desktop), sum(mobile), sum(tablet), sum(total_time_ms)
       FROM analytics_hourlystat GROUP BY 1, 2, 3""",
    """UPDATE workflows_workflow w SET executions = s.n, last_run = s.latest
       FROM (SELECT workflow_id, count(*) AS n, max(executed_at) AS latest
             FROM analytics_execution GROUP BY 1) s WHERE s.workflow_id = w.id""",
    """UPDATE workflows_workflow w SET exposed_visitors = s.exposed, held_out_visitors = s.held
       FROM (SELECT workflow_id, count(*) FILTER (WHERE NOT held_out) AS exposed,
             count(*) FILTER (WHERE held_out) AS held FROM analytics_exposure GROUP BY 1) s
       WHERE s.workflow_id = w.id""",
    "TRUNCATE analytics_goaldailystat",
    """INSERT INTO analytics_goaldailystat (goal_id, owner_id, day, conversions)
       SELECT goal_id, owner_id, day, count(*) FROM analytics_conversion GROUP BY 1, 2, 3""",
    "TRUNCATE analytics_attribution",
    """INSERT INTO analytics_attribution (workflow_id, goal_id, visitor_id, held_out)
       SELECT DISTINCT e.workflow_id, c.goal_id, e.visitor_id, e.held_out
       FROM analytics_exposure e JOIN analytics_conversion c
           ON c.visitor_id = e.visitor_id AND c.converted_at >= e.exposed_at""",
    "TRUNCATE analytics_lifttally",
    """INSERT INTO analytics_lifttally (workflow_id, goal_id, owner_id, held_out, converters)
       SELECT a.workflow_id, a.goal_id, w.owner_id, a.held_out, count(*)
       FROM analytics_attribution a JOIN workflows_workflow w ON w.id = a.workflow_id
       GROUP BY 1, 2, 3, 4""",
    "TRUNCATE analytics_notcounted",
    """INSERT INTO analytics_notcounted (owner_id, day, reason, executions, conversions)
       SELECT w.owner_id, d::date, bot, 40, 3
       FROM generate_series(now() - interval '89 days', now(), interval '1 day') AS d,
           unnest(ARRAY['Googlebot', 'bingbot', 'AhrefsBot', 'Headless', 'curl']) AS bot,
           (SELECT owner_id FROM workflows_workflow LIMIT 1) AS w""",
    # Autovacuum's steady state: the visibility map set, statistics current.
    "VACUUM ANALYZE",
]

MEASURE = """
import html, re, statistics, time
from django.test import Client
from django.contrib.auth import get_user_model
from analytics.models import Execution
from workflows.models import Workflow
import gc
client = Client()
client.force_login(get_user_model().objects.get(username="bench"))
gc.freeze()  # as a gunicorn worker does once it has loaded the app (gunicorn.conf.py)
busiest = Workflow.objects.filter(holdout_percent__gt=0).order_by("-executions").first()
newest = Execution.objects.order_by("-executed_at").first()
pages = {
    "overview": "/",
    "overview 24 h": "/?range=24h",
    "playbooks": "/playbooks/",
    "playbooks by success, lowest first": "/playbooks/?sort=success&order=asc",
    "playbook detail": f"/playbooks/{busiest.public_id}/",
    "playbook detail 48 h": f"/playbooks/{busiest.public_id}/?range=48h",
    "analytics 7 d": "/analytics/?range=7d",
    "analytics 30 d": "/analytics/?range=30d",
    "analytics 90 d": "/analytics/?range=90d",
    "analytics 30 d, errors on mobile": "/analytics/?range=30d&status=error&device=mobile",
    "analytics 90 d, a path no run has": "/analytics/?range=90d&path=/nowhere",
    "one execution": f"/executions/{newest.execution_id}/",
    "goals, with lift of 20 playbooks on 10 goals": "/goals/",
    "overview poll, nothing new": None,
}
overview = client.get("/").content.decode()
poll = html.unescape(re.search(r'id="live" hx-get="([^"]+)"', overview).group(1))
pages["overview poll, nothing new"] = poll
for name, url in pages.items():
    extra = {"HTTP_HX_REQUEST": "true"} if "poll" in name else {}
    for _ in range(3):
        client.get(url, **extra)
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = client.get(url, **extra)
        times.append(1000 * (time.perf_counter() - started))
        assert response.status_code in (200, 204), (url, response.status_code)
    times.sort()
    p95 = times[max(0, round(0.95 * len(times)) - 1)]
    print(f"PAGE|{name}|{statistics.median(times):.1f}|{p95:.1f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--measure-only", action="store_true", help="measure the database seeded by a last run"
    )
    parser.add_argument(
        "--baseline", metavar="REV", help="another commit, measured beside this one in turns"
    )
    parser.add_argument("--passes", type=int, default=1, help="measurements of each commit")
    args = parser.parse_args()
    baseline = checkout(args.baseline, Path(tempfile.mkdtemp())) if args.baseline else None
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-" + "d" * 50,
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"{PG_URL}/{DATABASE}",
        "SECURE_SSL_REDIRECT": "0",
        "DB_STATEMENT_TIMEOUT_MS": "0",
        "STATIC_ROOT": tempfile.mkdtemp(prefix="tracker-dashboards-static-"),
    }
    manage(env, "collectstatic", "--noinput", "-v0")
    if args.measure_only:
        with psycopg.connect(f"{PG_URL}/{DATABASE}") as connection:
            size = connection.execute("SELECT count(*) FROM analytics_execution").fetchone()[0]
        report(*measure(env, size, args.passes, baseline), args.passes, args.baseline)
        return
    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    manage(env, "migrate", "--noinput", "-v0")
    seed_env = {**env, "BENCH_WORKFLOWS": str(PLAYBOOKS), "BENCH_IDS": os.devnull}
    seeded = manage(seed_env, "shell", "-v0", "-c", (ROOT / "bench" / "seed.py").read_text())
    _, owner, first, _ = seeded.split("SEEDED")[1].split()
    with psycopg.connect(f"{PG_URL}/{DATABASE}", autocommit=True) as connection:
        for statement in ADD_GOALS:
            connection.execute(
                statement, {"owner": int(owner), "first": int(first), "goals": GOALS}
            )
    lines, baseline_lines = [], []
    done = 0
    for size in sorted(args.sizes):
        started = time.monotonic()
        with psycopg.connect(f"{PG_URL}/{DATABASE}", autocommit=True) as connection:
            connection.execute("SET statement_timeout = 0")
            after = connection.execute("SELECT coalesce(max(id), 0) FROM analytics_execution")
            after = after.fetchone()[0]
            params = {"first": int(first), "owner": int(owner), "playbooks": PLAYBOOKS}
            connection.execute(ADD_EXECUTIONS, {**params, "start": done + 1, "stop": size})
            connection.execute(ADD_EVENTS, {"after": after})
            more = {"start": done // 5 + 1, "stop": size // 5}
            connection.execute(ADD_EXPOSURES, {**params, **more})
            more = {"start": done // 10 + 1, "stop": size // 10}
            connection.execute(ADD_CONVERSIONS, {**params, **more, "goals": GOALS})
            for statement in REBUILD:
                connection.execute(statement)
            counters, rolled_up, by_day = connection.execute(
                "SELECT (SELECT sum(executions) FROM workflows_workflow),"
                " (SELECT sum(executions) FROM analytics_hourlystat),"
                " (SELECT sum(executions) FROM analytics_dailystat)"
            ).fetchone()
        done = size
        print(f"seeded {size:,} executions in {time.monotonic() - started:.0f} s", flush=True)
        measured, against = measure(env, size, args.passes, baseline)
        lines += measured
        baseline_lines += against
        assert counters == rolled_up == by_day == size, (counters, rolled_up, by_day, size)
    report(lines, baseline_lines, args.passes, args.baseline)


Line = tuple[int, str, float, float]  # executions, page, p50 ms, p95 ms


def measure(env: dict[str, str], size: int, passes: int, baseline: Path | None):
    """Each page's median p50 and p95 over the passes, for this commit and the baseline (none
    without one). The two take turns going first."""
    sides = {"this": ROOT, **({"baseline": baseline} if baseline else {})}
    found: dict[str, list[list[Line]]] = {side: [] for side in sides}
    for number in range(passes):
        order = list(sides.items())
        for side, root in order if number % 2 == 0 else reversed(order):
            script = MEASURE.replace("REQUESTS", str(REQUESTS))
            output = manage(env, "shell", "-v0", "-c", script, cwd=root)
            found[side].append(
                [(size, *_page(line)) for line in output.splitlines() if line.startswith("PAGE|")]
            )
    return _medians(found["this"]), _medians(found.get("baseline", []))


def _medians(passes: list[list[Line]]) -> list[Line]:
    if not passes:
        return []
    return [
        (
            size,
            name,
            statistics.median(p[i][2] for p in passes),
            statistics.median(p[i][3] for p in passes),
        )
        for i, (size, name, _, _) in enumerate(passes[0])
    ]


def _page(line: str) -> tuple[str, float, float]:
    _, name, p50, p95 = line.split("|")
    return name, float(p50), float(p95)


def manage(env: dict[str, str], *args: str, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=cwd, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode:
        sys.exit(f"manage.py {args[0]} failed:\n{result.stderr}")
    return result.stdout


def report(lines: list[Line], baseline_lines: list[Line], passes: int, baseline: str | None):
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    sizes = sorted({size for size, *_ in lines})
    text = [
        f"# Dashboard benchmark, commit {commit}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"One user, {PLAYBOOKS} playbooks, executions over 90 days with one action event each;"
        f" server time of each page rendered in-process (middleware, queries, templates), p50 and"
        f" p95 of {REQUESTS} requests after 3 warm-ups"
        + (f", medians of {passes} passes" if passes > 1 else "")
        + ". Target: p95 under 100 ms at every size.",
        "",
        "| page | " + " | ".join(f"{size:,}: p50 / p95 ms" for size in sizes) + " |",
        "| --- | " + " | ".join("---:" for _ in sizes) + " |",
    ]
    for name in dict.fromkeys(name for _, name, *_ in lines):
        cells = [
            f"{p50:.1f} / {p95:.1f}" for size in sizes for s, n, p50, p95 in lines
            if s == size and n == name
        ]  # fmt: skip
        text.append(f"| {name} | " + " | ".join(cells) + " |")
    worst = max(p95 for *_, p95 in lines)
    text += [
        "",
        f"Slowest p95: {worst:.1f} ms."
        " Counters = hourly rollup = daily rollup = executions at each size.",
    ]
    if baseline_lines:
        text += [
            "",
            f"Against the baseline {baseline}, measured in turns with this commit on the same"
            " database, p50 / p95 ms:",
            "",
            "| page | executions | this | baseline |",
            "| --- | ---: | ---: | ---: |",
        ]
        for (size, name, p50, p95), (_, _, b50, b95) in zip(lines, baseline_lines, strict=True):
            text.append(f"| {name} | {size:,} | {p50:.1f} / {p95:.1f} | {b50:.1f} / {b95:.1f} |")
    output = "\n".join(text) + "\n"
    print("\n" + output)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "dashboards-latest.md").write_text(output)
    history = out / "dashboards-history.csv"
    new_file = not history.exists()
    with history.open("a", newline="") as file:
        writer = csv.writer(file)
        if new_file:
            writer.writerow(["date", "commit", "executions", "page", "p50_ms", "p95_ms"])
        stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
        writer.writerows([stamp, commit, *line] for line in lines)


if __name__ == "__main__":
    main()
