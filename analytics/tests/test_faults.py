"""Real faults against the app under gunicorn: a PostgreSQL cluster of the test's own that is
stopped and started again, workers killed mid-request, row locks held elsewhere."""

import contextlib
import http.client
import http.cookiejar
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from analytics.tests.agents import VISITOR_USER_AGENT

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A throwaway PostgreSQL in a temporary folder, run as the postgres user."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="tracker-pg-")
        postgres = pwd.getpwnam("postgres")
        os.chown(self.folder, postgres.pw_uid, postgres.pw_gid)
        self.data = f"{self.folder}/data"
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / tool), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", self.data, "-o", options, "-l", f"{self.folder}/log", "-w", "start"
        )

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def freeze(self) -> list[int]:
        """Stop every process of the cluster (SIGSTOP), as a hung host would: connections stay
        open and the kernel still accepts new ones, but nothing answers."""
        postmaster = int(Path(f"{self.data}/postmaster.pid").read_text().split()[0])
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        pids = [postmaster, *map(int, children)]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        return pids

    def thaw(self, pids: list[int]) -> None:
        for pid in reversed(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def url(self, database: str = "tracker") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                self.data,
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    if PG_BIN is None or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL's initdb/pg_ctl and root (to run them as postgres)")
    cluster = Cluster()
    cluster.start()
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as connection:
        connection.execute("CREATE DATABASE tracker")
    yield cluster
    cluster.remove()


class App:
    """gunicorn serving the project as in production (settings, gunicorn.conf.py) on the
    throwaway cluster."""

    def __init__(self, cluster: Cluster) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
            "DEBUG": "0",
            "SECRET_KEY": "fault-tests-" + "k" * 50,
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": cluster.url(),
            "REDIS_URL": settings.REDIS_URL or "",
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "TRACKING_RATELIMIT_IP": "1000000/m",
            # Short, so that the hung-database test is quick; the default is 5 s.
            "DB_STATEMENT_TIMEOUT_MS": "3000",
            "STATIC_ROOT": f"{cluster.folder}/static",
        }
        self.manage("collectstatic", "--noinput", "-v0")
        self.manage("migrate", "--noinput")
        self.manage("load_demo", "--executions", "0", "--force")
        found = self.manage(
            "shell",
            "-v0",
            "-c",
            "from workflows.models import Workflow as W; w = W.objects.order_by('pk')[0]; "
            "print(w.site.site_key, w.public_id)",
        )
        self.site_key, self.workflow_id = found.split()[-2:]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "tracker.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
            ],
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout

    def track(
        self, timeout: float = 10, execution_id: str | None = None
    ) -> tuple[int, dict, float, dict]:
        body = {
            "siteKey": self.site_key,
            "workflowId": self.workflow_id,
            "status": "success",
            "executionTimeMs": 12,
        }
        if execution_id:
            body["executionId"] = execution_id
        request = urllib.request.Request(
            f"{self.url}/api/track-execution",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "text/plain", "User-Agent": VISITOR_USER_AGENT},
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, headers, payload = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, payload = error.code, error.headers, error.read()
        return status, json.loads(payload or b"{}"), time.monotonic() - started, dict(headers)

    def counts(self, cluster: Cluster) -> tuple[int, int]:
        with psycopg.connect(cluster.url()) as connection:
            counter = connection.execute(
                "SELECT executions FROM workflows_workflow WHERE public_id = %s",
                [self.workflow_id],
            ).fetchone()[0]
            rows = connection.execute(
                "SELECT count(*) FROM analytics_execution e JOIN workflows_workflow w "
                "ON w.id = e.workflow_id WHERE w.public_id = %s",
                [self.workflow_id],
            ).fetchone()[0]
        return counter, rows

    def worker_pids(self) -> list[int]:
        pid = self.process.pid
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def app(cluster):
    app = App(cluster)
    yield app
    app.stop()


def signed_in_opener(app: App) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{app.url}/accounts/login/")
    token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    form = f"username=demo&password=demo-password&csrfmiddlewaretoken={token}".encode()
    opener.open(
        urllib.request.Request(
            f"{app.url}/accounts/login/",
            data=form,
            headers={"Referer": f"{app.url}/accounts/login/"},
        )
    )
    return opener


def test_the_database_stopping_under_traffic_gives_quick_503s_then_recovers(app, cluster):
    browser = signed_in_opener(app)
    counter_before, rows_before = app.counts(cluster)
    before = [app.track()[0] for _ in range(20)]

    cluster.stop()
    try:
        during = [app.track() for _ in range(10)]
        try:
            browser.open(f"{app.url}/", timeout=10)
            dashboard = 200
        except urllib.error.HTTPError as error:
            dashboard, page = error.code, error.read()
    finally:
        cluster.start()
    after = [app.track()[0] for _ in range(20)]

    slowest = max(elapsed for _, _, elapsed, _ in during)
    print(f"database down: 10 requests answered 503, slowest in {slowest:.3f} s")
    assert before == [201] * 20
    assert [status for status, *_ in during] == [503] * 10
    assert all(
        body["errors"] == {"database": ["Temporarily unavailable; retry shortly."]}
        for _, body, _, _ in during
    )
    assert all(int(headers["Retry-After"]) > 0 for *_, headers in during)
    assert max(elapsed for _, _, elapsed, _ in during) < 2.0
    assert dashboard == 503
    assert b"Back in a moment" in page and b"Traceback" not in page
    assert after == [201] * 20  # the same gunicorn, no restart
    assert app.counts(cluster) == (counter_before + 40, rows_before + 40)


def test_a_hung_database_answers_503_within_the_deadline_and_recovers_without_restart(app, cluster):
    deadline, connect_timeout = 3.0, 2.0  # DB_STATEMENT_TIMEOUT_MS and DB_CONNECT_TIMEOUT
    counter_before, rows_before = app.counts(cluster)
    assert [app.track()[0] for _ in range(10)] == [201] * 10  # every thread has a connection
    answers = []

    def post(number: int) -> None:
        answers.append(app.track(timeout=60, execution_id=f"hung-{number}"))

    frozen = cluster.freeze()
    started = time.monotonic()
    try:
        # More requests than the 8 threads: the last ones wait for a thread, then for a new
        # connection that the frozen server never completes.
        threads = [threading.Thread(target=post, args=(number,)) for number in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        held = time.monotonic() - started
    finally:
        cluster.thaw(frozen)
    after = [app.track()[0] for _ in range(20)]
    # The site script retries what got a 503: a statement the server had already received
    # when it froze was recorded once it woke, and its retry is recognised.
    retried = {app.track(execution_id=f"hung-{number}")[0] for number in range(12)}

    slowest = max(elapsed for _, _, elapsed, _ in answers)
    print(f"database hung: 12 requests answered 503, slowest in {slowest:.2f} s")
    assert [status for status, *_ in answers] == [503] * 12
    assert all(int(headers["Retry-After"]) > 0 for *_, headers in answers)
    assert all(elapsed < deadline + connect_timeout + 1.5 for _, _, elapsed, _ in answers)
    assert held < 2 * (deadline + connect_timeout)
    assert after == [201] * 20  # the same gunicorn, no restart
    assert retried <= {200, 201}
    assert app.counts(cluster) == (counter_before + 42, rows_before + 42)


def test_clients_at_once_keep_their_connections_and_every_post_counts_once(app, cluster):
    counter_before, rows_before = app.counts(cluster)
    clients, posts = 8, 25
    answers: dict[int, list[tuple[int, bool]]] = {}

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
        opened, seen = None, []
        for post in [*range(posts), 0]:  # the last one retries the first
            body = {
                "siteKey": app.site_key,
                "workflowId": app.workflow_id,
                "status": "success",
                "executionTimeMs": 12,
                "executionId": f"keep-alive-{number}-{post}",
            }
            connection.request(
                "POST", "/api/track-execution", json.dumps(body), {"Content-Type": "text/plain"}
            )
            used, opened = connection.sock, opened or connection.sock
            response = connection.getresponse()
            response.read()
            seen.append((response.status, used is opened))
        connection.close()
        answers[number] = seen

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # One connection per client served all its posts; the retry was recognised.
    assert answers == {number: [(201, True)] * posts + [(200, True)] for number in range(clients)}
    recorded = clients * posts
    assert app.counts(cluster) == (counter_before + recorded, rows_before + recorded)


def test_sessions_the_server_ends_are_replaced_without_a_failed_request(app, cluster):
    counter_before, rows_before = app.counts(cluster)
    assert [app.track()[0] for _ in range(10)] == [201] * 10  # worker threads open sessions
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as admin:
        ended = admin.execute(
            "SELECT coalesce(array_agg(pid), '{}') FROM (SELECT pid, pg_terminate_backend(pid)"
            " FROM pg_stat_activity WHERE datname = 'tracker' AND pid <> pg_backend_pid()) ended"
        ).fetchone()[0]
        # pg_terminate_backend only signals: wait until the sessions are gone, so that no
        # request races a session still on its way out.
        deadline = time.monotonic() + 5
        while admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [ended]
        ).fetchone()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.05)

    after = [app.track()[0] for _ in range(20)]

    assert len(ended) >= 1
    assert after == [201] * 20
    assert app.counts(cluster) == (counter_before + 30, rows_before + 30)


def test_a_row_lock_held_elsewhere_answers_503_within_the_lock_timeout(app, cluster):
    counter_before, rows_before = app.counts(cluster)
    with psycopg.connect(cluster.url()) as locker:
        locker.execute(
            "SELECT 1 FROM workflows_workflow WHERE public_id = %s FOR UPDATE", [app.workflow_id]
        )
        status, body, elapsed, headers = app.track()
        locker.rollback()

    print(f"row lock held: {status} in {elapsed:.3f} s")
    assert status == 503
    assert "Retry-After" in headers
    assert elapsed < 4.0  # the 2 s lock timeout, not gunicorn's 30 s
    assert app.counts(cluster) == (counter_before, rows_before)


def test_a_worker_killed_mid_request_leaves_no_half_written_execution(app, cluster):
    counter_before, rows_before = app.counts(cluster)
    outcome = {}
    with psycopg.connect(cluster.url()) as locker:
        # The request's statement inserts its execution row, then waits for this lock to raise
        # the counter.
        locker.execute(
            "SELECT 1 FROM workflows_workflow WHERE public_id = %s FOR UPDATE", [app.workflow_id]
        )
        request = threading.Thread(target=lambda: outcome.update(result=_try_track(app)))
        request.start()
        time.sleep(0.8)
        for pid in app.worker_pids():
            os.kill(pid, signal.SIGKILL)
        request.join(timeout=15)
        locker.rollback()

    assert outcome["result"] == "connection lost"
    counter, rows = app.counts(cluster)
    # All or nothing: the statement was already in the database when its worker died, and
    # PostgreSQL finishes it unless it notices the client is gone; never a row without its
    # count. (The site script's retry of that executionId is then answered as a duplicate.)
    assert counter - counter_before == rows - rows_before
    assert counter - counter_before in (0, 1)
    deadline = time.monotonic() + 15
    while app.track()[0] != 201:  # gunicorn replaces the killed workers
        assert time.monotonic() < deadline
        time.sleep(0.2)
    counter, rows = app.counts(cluster)
    assert counter == rows


def _try_track(app: App) -> str | int:
    try:
        return app.track()[0]
    except (urllib.error.URLError, ConnectionError, http.client.RemoteDisconnected):
        return "connection lost"
