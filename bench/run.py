"""Benchmark the tracking endpoint against PostgreSQL's own limit for the same transaction.

Starts the app under gunicorn with production settings on a database of its own
(tracker_bench) and Redis, drives it with wrk from another process on 127.0.0.1, and in the
same run has pgbench write the same rows at the same concurrency, two ways: the tracking
transaction as plain SQL statements (bench/transaction.sql) and the very statement the app
sends, for one execution or a batch (bench/statement.py). Each scenario runs RUNS times,
interleaved with pgbench; medians are reported with the ratios endpoint / pgbench, and written
to bench/results/.

    make bench            # or: .venv/bin/python bench/run.py [--duration 15] [--runs 3]
"""

import argparse
import csv
import os
import re
import runpy
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from common import ROOT, checkout, free_port, manage

BENCH = ROOT / "bench"
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
DATABASE = "tracker_bench"
WORKFLOWS = 1000
BATCH = 50
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# How the project is served in production (gunicorn.conf.py), the default here.
SERVING = runpy.run_path(str(ROOT / "gunicorn.conf.py"))


@dataclass
class Scenario:
    name: str
    batch: int
    hot: bool
    description: str
    # What a request carries: executions, with their visitor's id (an exposure each), or
    # conversions. Only plain executions have a pgbench equivalent.
    kind: str = "execution"

    @property
    def against_pgbench(self) -> bool:
        return self.batch > 0 and self.kind == "execution"


SCENARIOS = [
    Scenario("single", 1, False, "1 execution per request, 1,000 playbooks"),
    Scenario("hot", 1, True, "1 execution per request, one hot playbook"),
    Scenario("batch50", BATCH, False, f"{BATCH} executions per request, 1,000 playbooks"),
    # What the stack costs before any work: a CORS preflight without Origin (no database,
    # no cache) through the same middleware and view.
    Scenario("floor", 0, False, "framework floor: a preflight, no I/O"),
    # As the site script posts with a visitor id: each execution also exposes a new visitor.
    Scenario("visitor", 1, False, "1 execution and its visitor's exposure per request", "visitor"),
    Scenario("conversion", 1, False, "1 conversion per request, 100 goals", "conversion"),
]
GOALS = 100


@dataclass
class Measure:
    requests_per_s: float
    executions_per_s: float
    p50_ms: float
    p99_ms: float
    app_cpu_per_1000: float
    pg_cpu_per_1000: float
    errors: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=SERVING["workers"],
        help="gunicorn workers (default: gunicorn.conf.py's)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=SERVING["threads"],
        help="threads per gthread worker (default: gunicorn.conf.py's); 0: sync workers",
    )  # fmt: skip
    parser.add_argument(
        "--scenarios", default=",".join(s.name for s in SCENARIOS), help="comma-separated"
    )
    parser.add_argument(
        "--baseline", metavar="REV",
        help="another commit, served beside this one and measured in the same passes",
    )  # fmt: skip
    args = parser.parse_args()
    scenarios = [s for s in SCENARIOS if s.name in args.scenarios.split(",")]

    work = Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    print(f"working files and the app's log in {work}")
    env = app_environment(work)
    recreate_database()
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    seed_env = {
        **env,
        "BENCH_WORKFLOWS": str(WORKFLOWS),
        "BENCH_IDS": str(work / "ids"),
        "BENCH_GOALS": str(GOALS),
        "BENCH_GOAL_IDS": str(work / "goals"),
    }
    seeded = manage(seed_env, "shell", "-v0", "-c", (BENCH / "seed.py").read_text())
    site_key, owner, first_pk, last_pk = seeded.split("SEEDED")[1].split()
    analyze_seeded_tables()
    (work / "hot").write_text((work / "ids").read_text().splitlines()[0] + "\n")
    statements = manage(
        {**env, "BENCH_KEY": site_key, "BENCH_OWNER": owner, "BENCH_WORKFLOWS": str(WORKFLOWS),
         "BENCH_BATCH": str(BATCH)},
        "shell", "-v0", "-c", (BENCH / "statement.py").read_text(),
    )  # fmt: skip
    single_statement, batch_statement = statements.split("STATEMENT", 1)[1].split("BATCH", 1)

    apps = {"app": App(ROOT, env, args, work / "gunicorn.log")}
    if args.baseline:
        apps["baseline"] = App(checkout(args.baseline, work), env, args, work / "baseline.log")
    try:
        warm_up = argparse.Namespace(**{**vars(args), "duration": 2})
        for app in apps.values():
            wait_for(f"http://127.0.0.1:{app.port}/healthz")
            # Every worker opens its database connection before anything is measured.
            endpoint_run(app, work / "ids", site_key, SCENARIOS[0], warm_up)
        results: dict[str, dict[str, list]] = {
            s.name: {"app": [], "baseline": [], "pg": [], "pg_statement": []} for s in scenarios
        }
        for run in range(1, args.runs + 1):
            for scenario in scenarios:
                ids = work / (
                    "hot" if scenario.hot else "goals" if scenario.kind == "conversion" else "ids"
                )
                # The side served first meets PostgreSQL still writing out what pgbench wrote just
                # before (checkpoint, autovacuum): each side goes first every other pass.
                sides = list(apps.items())
                for side, app in sides if run % 2 else reversed(sides):
                    if side == "baseline" and scenario.kind != "execution":
                        continue  # what an earlier commit may not know
                    print(f"run {run}/{args.runs} {scenario.name}: {side}", flush=True)
                    results[scenario.name][side].append(
                        endpoint_run(app, ids, site_key, scenario, args)
                    )
                if not scenario.against_pgbench:
                    continue
                print(f"run {run}/{args.runs} {scenario.name}: pgbench", flush=True)
                pk_range = (int(first_pk), int(first_pk) if scenario.hot else int(last_pk))
                results[scenario.name]["pg"].append(
                    pgbench_run(
                        transaction_script(work, pk_range, owner, scenario.batch),
                        scenario.batch,
                        args,
                    )
                )
                print(f"run {run}/{args.runs} {scenario.name}: pgbench, the app's statement")
                if scenario.batch == 1:
                    last = 0 if scenario.hot else WORKFLOWS - 1
                    script = work / f"statement-{last}.sql"
                    script.write_text(f"\\set n random(0, {last})\n{single_statement}")
                else:
                    script = work / f"statement-batch-{scenario.batch}.sql"
                    script.write_text(batch_statement)
                results[scenario.name]["pg_statement"].append(
                    pgbench_run(script, scenario.batch, args, prepared=True)
                )
        exact = check_counts()
    finally:
        for app in apps.values():
            app.stop()
    report(results, exact, args)


class App:
    """The project under gunicorn, as `gunicorn.conf.py` serves it, from `source`."""

    def __init__(self, source: Path, env: dict[str, str], args, log: Path) -> None:
        self.port = free_port()
        worker = ["-k", "gthread", "--threads", str(args.threads)]
        if not args.threads:  # gunicorn would make them gthread workers with gunicorn.conf.py's
            worker = ["-k", "sync", "--threads", "1"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "tracker.wsgi", "-w", str(args.workers),
             "-b", f"127.0.0.1:{self.port}", "--log-level", "warning", *worker],
            cwd=source, env=env, stderr=open(log, "w"),  # noqa: SIM115
        )  # fmt: skip
        self.pid = self.process.pid

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def app_environment(work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-" + "b" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"{PG_URL}/{DATABASE}",
        "REDIS_URL": REDIS_URL,
        "SECURE_SSL_REDIRECT": "0",
        "STATIC_ROOT": str(work / "static"),
        # Both limits are checked on every request, as in production, but never reached.
        "TRACKING_RATELIMIT_IP": "100000000/m",
        "TRACKING_RATELIMIT_SITE": "100000000/m",
    }


def recreate_database() -> None:
    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")


def analyze_seeded_tables() -> None:
    """Statistics for the tables seeded at their full size, as autovacuum would gather them in
    production. Without them PostgreSQL looked a batch's playbooks up by scanning all of the
    owner's. Not the tables that start empty: autovacuum is off on some servers, and statistics
    saying "empty" would stay, so a foreign key check planned once per connection would go on
    scanning the whole table as it grows (seen: PostgreSQL's CPU per execution up 5-30 times)."""
    with psycopg.connect(f"{PG_URL}/{DATABASE}", autocommit=True) as connection:
        connection.execute("ANALYZE auth_user, workflows_site, workflows_workflow")


def wait_for(url: str) -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """Each live process's CPU seconds so far."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return seconds


def cpu_used(before: dict[int, float], now: list[int]) -> float:
    """CPU seconds used since `before` by the processes running `now`; one started since (the
    app replaces its database connections every 5 minutes) counts from zero. A process that
    ended since is left out: pgbench's backends leave just as a run starts, and their whole
    past CPU time had come off the sum, which read near zero or negative."""
    after = cpu_seconds(now)
    return sum(seconds - before.get(pid, 0) for pid, seconds in after.items())


def process_tree(root: int) -> list[int]:
    children = Path(f"/proc/{root}/task/{root}/children").read_text()
    return [root, *map(int, children.split())]


def postgres_pids() -> list[int]:
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                pids.append(int(comm.parent.name))
        except OSError:
            pass  # the process ended while we looked
    return pids


def endpoint_run(app: "App", ids: Path, key: str, scenario: Scenario, args) -> Measure:
    batch = scenario.batch
    port, app_pid = app.port, app.pid
    app_pids, pg_pids = process_tree(app_pid), postgres_pids()
    app_before, pg_before = cpu_seconds(app_pids), cpu_seconds(pg_pids)
    output = subprocess.run(
        ["wrk", "-t2", f"-c{args.clients}", f"-d{args.duration}s", "--latency", "--timeout", "10s",
         "-s", str(BENCH / "track.lua"), f"http://127.0.0.1:{port}"],
        env={**os.environ, "BENCH_IDS": str(ids), "BENCH_KEY": key, "BENCH_BATCH": str(batch),
             "BENCH_KIND": scenario.kind},
        capture_output=True, text=True, check=True, timeout=args.duration + 60,
    ).stdout  # fmt: skip
    time.sleep(3)  # requests still queued in gunicorn finish before pgbench starts
    app_cpu = cpu_used(app_before, process_tree(app_pid))
    pg_cpu = cpu_used(pg_before, postgres_pids())
    found = dict(re.findall(r"(\w+)=(\d+)", output.split("RESULT")[1]))
    requests = int(found["requests"])
    seconds = int(found["duration_us"]) / 1e6
    executions = requests * batch
    per = executions or requests  # CPU per 1,000 requests when they carry no executions
    return Measure(
        requests_per_s=requests / seconds,
        executions_per_s=executions / seconds,
        p50_ms=int(found["p50_us"]) / 1000,
        p99_ms=int(found["p99_us"]) / 1000,
        app_cpu_per_1000=1000 * app_cpu / per,
        pg_cpu_per_1000=1000 * pg_cpu / per,
        errors=int(found["errors"]) + int(found["status_errors"]),
    )


def transaction_script(work: Path, pk_range: tuple[int, int], owner: str, batch: int) -> Path:
    """transaction.sql for pgbench; for a batch, `batch` executions in one transaction, their
    playbooks in ascending order (random order would only measure deadlocks)."""
    first, last = pk_range
    step = max((last - first + 1) // batch, 1)
    body = (BENCH / "transaction.sql").read_text()
    inner = body.split("BEGIN;", 1)[1].rsplit("END;", 1)[0]
    items = [
        f"\\set wid {first + i * step} + random(0, {step - 1})\n{inner}"
        if last > first
        else f"\\set wid {first}\n{inner}"
        for i in range(batch)
    ]
    script = work / f"pgbench-{batch}-{last - first}.sql"
    script.write_text(f"\\set owner {owner}\nBEGIN;" + "".join(items) + "END;\n")
    return script


def pgbench_run(script: Path, batch: int, args, *, prepared: bool = False) -> Measure:
    """pgbench running `script` (`batch` executions per transaction), prepared once per
    connection when `prepared` (as the app's statement is); fails unless every transaction
    wrote its executions."""
    rows_before = execution_rows()
    output = subprocess.run(
        ["pgbench", "-n", "-c", str(args.clients), "-j", "2", "-T", str(args.duration),
         "-M", "prepared" if prepared else "simple", "-f", str(script), f"{PG_URL}/{DATABASE}"],
        capture_output=True, text=True, check=True, timeout=args.duration + 60,
    ).stdout  # fmt: skip
    tps = float(re.search(r"tps = ([\d.]+) \(without initial", output).group(1))
    latency = float(re.search(r"latency average = ([\d.]+) ms", output).group(1))
    failed = int(re.search(r"number of failed transactions: (\d+)", output).group(1))
    processed = int(re.search(r"actually processed: (\d+)", output).group(1))
    written = execution_rows() - rows_before
    # pgbench can write a transaction per client more than it counts as processed (seen: 50
    # rows more after a batch run): one whose COMMIT was under way when time ran out.
    in_flight = written / batch - processed
    if written % batch or not 0 <= in_flight <= args.clients:
        raise RuntimeError(
            f"pgbench {script.name}: {processed} transactions of {batch} wrote {written} rows"
        )
    executions = tps * batch
    return Measure(
        requests_per_s=tps,
        executions_per_s=executions,
        p50_ms=latency,  # pgbench reports the mean
        p99_ms=float("nan"),
        # pgbench's backends exit with it, taking their CPU counters along: not measured.
        app_cpu_per_1000=float("nan"),
        pg_cpu_per_1000=float("nan"),
        errors=failed,
    )


def execution_rows() -> int:
    with psycopg.connect(f"{PG_URL}/{DATABASE}") as connection:
        return connection.execute("SELECT count(*) FROM analytics_execution").fetchone()[0]


def check_counts() -> dict[str, dict[str, int]]:
    """What each kind of row adds up to, every way it is counted: equal when exact."""
    with psycopg.connect(f"{PG_URL}/{DATABASE}") as connection:
        found = connection.execute(
            "SELECT (SELECT sum(executions) FROM workflows_workflow),"
            " (SELECT count(*) FROM analytics_execution),"
            " (SELECT sum(executions) FROM analytics_hourlystat),"
            " (SELECT sum(executions) FROM analytics_dailystat),"
            " (SELECT sum(exposed_visitors + held_out_visitors) FROM workflows_workflow),"
            " (SELECT count(*) FROM analytics_exposure),"
            " (SELECT count(*) FROM analytics_conversion),"
            " (SELECT sum(conversions) FROM analytics_goaldailystat)"
        ).fetchone()
    values = [int(value or 0) for value in found]
    return {
        "executions": dict(
            zip(("counters", "rows", "hourly rollup", "daily rollup"), values[:4], strict=True)
        ),
        "exposures": dict(zip(("counters", "rows"), values[4:6], strict=True)),
        "conversions": dict(zip(("rows", "daily rollup"), values[6:], strict=True)),
    }


def median(measures: list[Measure]) -> Measure:
    return Measure(
        **{
            field: statistics.median(getattr(m, field) for m in measures)
            for field in Measure.__dataclass_fields__
        }
    )


def per_pass(name: str, runs: dict[str, list[Measure]], against: str = "pg") -> str:
    passes = zip(runs["app"], runs[against], strict=True)
    if against == "pg":
        ratios = [app.executions_per_s / other.executions_per_s for app, other in passes]
    else:  # the same requests on both sides
        ratios = [app.requests_per_s / other.requests_per_s for app, other in passes]
    label = "pgbench transaction" if against == "pg" else "baseline"
    return f"{name} / {label} " + ", ".join(f"{r:.0%}" for r in ratios)


def short_commit(rev: str = "HEAD") -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


HISTORY_COLUMNS = [
    "date", "commit", "scenario", "requests_per_s", "executions_per_s", "p50_ms", "p99_ms",
    "app_cpu_per_1000", "pg_cpu_per_1000", "pgbench_transaction_executions_per_s",
    "pgbench_statement_executions_per_s", "baseline", "baseline_executions_per_s",
    "baseline_app_cpu_per_1000", "baseline_pg_cpu_per_1000",
]  # fmt: skip


def report(results: dict, exact: dict, args) -> None:
    commit = short_commit()
    baseline = short_commit(args.baseline) if args.baseline else ""
    lines = [
        f"# Tracking benchmark, commit {commit}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{os.cpu_count()} cores; gunicorn {args.workers}"
        + (f" gthread workers of {args.threads} threads;" if args.threads else " sync workers;")
        + f" {args.clients} clients;"
        f" medians of {args.runs} interleaved {args.duration} s runs; wrk and pgbench on"
        " 127.0.0.1. Rate limits (IP and site key, Redis) checked on every request.",
        "pgbench writes the same rows two ways: the tracking transaction as plain statements"
        " (`bench/transaction.sql`) and the one statement the app sends, for a single execution"
        " or a batch (`bench/statement.py`).",
        "",
        "| scenario | endpoint req/s | executions/s | p50 ms | p99 ms | app CPU s/1k | PG CPU s/1k"
        " | pgbench transaction, executions/s | endpoint / that | pgbench app's statement,"
        " executions/s | endpoint / that | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    history = []
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    for scenario in SCENARIOS:
        if scenario.name not in results:
            continue
        runs = results[scenario.name]
        app = median(runs["app"])
        pg = median(runs["pg"]) if runs["pg"] else None
        statement = median(runs["pg_statement"]) if runs["pg_statement"] else None
        other = median(runs["baseline"]) if runs["baseline"] else None
        history.append(
            [stamp, commit, scenario.name, *(round(getattr(app, name), 3) for name in (
                "requests_per_s", "executions_per_s", "p50_ms", "p99_ms", "app_cpu_per_1000",
                "pg_cpu_per_1000")),
             round(pg.executions_per_s, 1) if pg else "",
             round(statement.executions_per_s, 1) if statement else "",
             baseline,
             *((round(other.executions_per_s, 1), round(other.app_cpu_per_1000, 3),
                round(other.pg_cpu_per_1000, 3)) if other else ("", "", ""))]
        )  # fmt: skip
        if pg is None:
            lines.append(
                f"| {scenario.name}: {scenario.description} | {app.requests_per_s:,.0f} | – |"
                f" {app.p50_ms:.1f} | {app.p99_ms:.1f} | {app.app_cpu_per_1000:.2f} per 1k requests"
                f" | – | – | – | – | – | {app.errors:.0f} |"
            )
            continue
        errors = app.errors + pg.errors + (statement.errors if statement else 0)
        lines.append(
            f"| {scenario.name}: {scenario.description} | {app.requests_per_s:,.0f} |"
            f" {app.executions_per_s:,.0f} | {app.p50_ms:.1f} | {app.p99_ms:.1f} |"
            f" {app.app_cpu_per_1000:.2f} | {app.pg_cpu_per_1000:.2f} |"
            f" {pg.executions_per_s:,.0f} | {app.executions_per_s / pg.executions_per_s:.0%} |"
            + (
                f" {statement.executions_per_s:,.0f} |"
                f" {app.executions_per_s / statement.executions_per_s:.0%} |"
                if statement
                else " – | – |"
            )
            + f" {errors:.0f} |"
        )
    lines.append("")
    if {"single", "batch50"} <= results.keys():
        single = median(results["single"]["app"]).executions_per_s
        batch = median(results["batch50"]["app"]).executions_per_s
        pairs = zip(results["single"]["app"], results["batch50"]["app"], strict=True)
        lines.append(
            f"Batched executions/s over single-execution posts: {batch / single:.1f}×"
            " (pass by pass: "
            + ", ".join(f"{b.executions_per_s / s.executions_per_s:.1f}×" for s, b in pairs)
            + ")."
        )
    if {"single", "floor"} <= results.keys():
        single = median(results["single"]["app"]).requests_per_s
        floor = median(results["floor"]["app"]).requests_per_s
        lines.append(
            f"Single-execution posts run at {single / floor:.0%} of the framework floor's"
            " request rate (same gunicorn, middleware and view, no work)."
        )
    lines.append(
        "Each pass's own ratio, as the machine's speed drifts between passes: "
        + "; ".join(per_pass(name, runs) for name, runs in results.items() if runs["pg"])
        + "."
    )
    if baseline:
        lines.append("")
        lines.append(f"Against the baseline {baseline}, served beside it in the same passes:")
        lines.append("")
        lines.append(
            "| scenario | requests/s, this / baseline | app CPU s/1k, this / baseline |"
            " PG CPU s/1k, this / baseline | pass by pass |"
        )
        lines.append("| --- | ---: | ---: | ---: | --- |")
        for name, runs in results.items():
            if not runs["baseline"]:
                continue
            app, other = median(runs["app"]), median(runs["baseline"])
            lines.append(
                f"| {name} | {app.requests_per_s:,.0f} / {other.requests_per_s:,.0f} requests"
                f" ({(app.requests_per_s / other.requests_per_s) - 1:+.1%}) |"
                f" {app.app_cpu_per_1000:.3f} / {other.app_cpu_per_1000:.3f}"
                f" ({app.app_cpu_per_1000 / other.app_cpu_per_1000 - 1:+.1%}) |"
                f" {app.pg_cpu_per_1000:.3f} / {other.pg_cpu_per_1000:.3f} |"
                f" {per_pass(name, runs, 'baseline')} |"
            )
    if {"conversion", "visitor"} <= results.keys():
        conversion, execution = (median(results[n]["app"]) for n in ("conversion", "visitor"))
        lines.append(
            f"A conversion post against an execution post with its visitor's exposure:"
            f" {conversion.requests_per_s:,.0f} / {execution.requests_per_s:,.0f} requests/s,"
            f" app CPU {conversion.app_cpu_per_1000:.2f} / {execution.app_cpu_per_1000:.2f},"
            f" PG CPU {conversion.pg_cpu_per_1000:.2f} / {execution.pg_cpu_per_1000:.2f}"
            " s per 1,000."
        )
    for kind, totals in exact.items():
        lines.append(
            f"After the run, {kind}: "
            + ", ".join(f"{name} {value:,}" for name, value in totals.items())
            + (" (equal)." if len(set(totals.values())) == 1 else " (NOT EQUAL).")
        )
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    history_file = out / "history.csv"
    new_file = not history_file.exists()
    with history_file.open("a", newline="") as file:
        writer = csv.writer(file)
        if new_file:
            writer.writerow(HISTORY_COLUMNS)
        writer.writerows(history)
    if results.keys() == {s.name for s in SCENARIOS}:
        (out / "latest.md").write_text(text)  # a partial run is only printed


if __name__ == "__main__":
    main()
