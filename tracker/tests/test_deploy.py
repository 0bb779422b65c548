"""The production front (deploy/nginx.conf before gunicorn as gunicorn.conf.py serves it): slow
clients, reloads under load, one control socket per instance, and malformed requests. gunicorn
serves a static file here (whitenoise, no database), so that only the front is measured."""

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = [pytest.mark.nginx, pytest.mark.slow]

ROOT = Path(settings.BASE_DIR)
STATIC = "/static/tracker/UnifiedWorkflowSystem.js"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory(prefix="tracker-deploy-") as path:
        env = production_env(Path(path))
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT, env=env, check=True, timeout=120,
        )  # fmt: skip
        yield Path(path)


def production_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    for key in ("DATABASE_URL", "REDIS_URL", "GUNICORN_CMD_ARGS"):
        env.pop(key, None)
    return {
        **env,
        "DEBUG": "0",
        "SECRET_KEY": "deploy-tests-" + "k" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "STATIC_ROOT": str(folder / "static"),
        **extra,
    }


class Gunicorn:
    """`gunicorn tracker.wsgi` from the repository, reading gunicorn.conf.py."""

    def __init__(self, folder: Path, **env: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "tracker.wsgi", "-b", f"127.0.0.1:{self.port}"],
            cwd=ROOT, env=production_env(folder, **env),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port)

    def workers(self) -> set[int]:
        pid = self.process.pid
        return set(map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split()))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


class Nginx:
    """deploy/nginx.conf as shipped, listening on a free port in front of `upstream_port`."""

    def __init__(self, folder: Path, upstream_port: int) -> None:
        self.port = free_port()
        config = (ROOT / "deploy" / "nginx.conf").read_text()
        for shipped, here in (
            ("listen 80;", f"listen 127.0.0.1:{self.port};"),
            ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};"),
        ):
            assert shipped in config
            config = config.replace(shipped, here)
        (folder / "nginx.conf").write_text(config)
        self.process = subprocess.Popen(
            [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g",
             f"daemon off; pid {folder}/nginx.pid; error_log {folder}/nginx-error.log;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)
        self.process.wait(timeout=30)


@pytest.fixture
def gunicorn(folder):
    server = Gunicorn(folder)
    yield server
    server.stop()


class SlowClients:
    """Clients that open a connection and send their request a byte a second (a slowloris)."""

    def __init__(self, port: int, count: int) -> None:
        self.request = f"GET {STATIC} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: yes\r\n\r\n".encode()
        self.sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.drip, daemon=True)
        self.thread.start()

    def drip(self) -> None:
        sent = 0
        while not self.stopped.wait(1 if sent else 0):
            for sock in self.sockets:
                # A socket the server closed is a client it gave up on.
                with contextlib.suppress(OSError):
                    sock.send(self.request[sent : sent + 1])
            sent += 1

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def others(port: int, seconds: float, clients: int = 4) -> list[float | None]:
    """Ordinary clients fetching the file for `seconds`: each request's time, None if it
    failed or took over 5 s."""
    times: list[float | None] = []
    stop_at = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop_at:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            started = time.monotonic()
            try:
                connection.request("GET", STATIC)
                response = connection.getresponse()
                response.read()
                times.append(time.monotonic() - started if response.status == 200 else None)
            except OSError:
                times.append(None)
            finally:
                connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times


def p99(times: list[float | None]) -> float:
    return statistics.quantiles([t if t is not None else 5.0 for t in times], n=100)[98]


def test_behind_nginx_100_slow_clients_leave_other_clients_fast(folder, gunicorn):
    front = Nginx(folder, gunicorn.port)
    try:
        slow = SlowClients(front.port, 100)
        try:
            time.sleep(1)  # every slow client has connected and started its request
            times = others(front.port, seconds=6)
        finally:
            slow.stop()
    finally:
        front.stop()

    print(f"behind nginx: {len(times)} requests, p99 {p99(times) * 1000:.0f} ms")
    assert len(times) > 50
    assert None not in times
    assert p99(times) < 1.0


def test_without_the_front_the_same_slow_clients_starve_gunicorn(folder, gunicorn):
    # What the front is for: gunicorn's 8 threads wait on the slow clients' requests.
    slow = SlowClients(gunicorn.port, 100)
    try:
        time.sleep(1)
        times = others(gunicorn.port, seconds=6)
    finally:
        slow.stop()

    print(f"straight to gunicorn: {len(times)} requests, {times.count(None)} failed")
    # The bound the front keeps, broken: how many fail depends on how the threads are taken.
    assert times.count(None) and p99(times) >= 1.0


# Requests whose length or headers could be read two ways (the stuff of request smuggling) or
# that go over gunicorn's limits, each with the status gunicorn answers itself: one that reached
# the app would be redirected to the login page.
MALFORMED = {
    "Content-Length and Transfer-Encoding": (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "two Content-Lengths": (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
        400,
    ),
    "a signed Content-Length": (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: +2\r\n\r\n{}",
        400,
    ),
    "chunked twice": (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "chunked in HTTP/1.0": (
        b"POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "a space before the colon": (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A : b\r\n\r\n", 400),
    "a folded header": (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: b\r\n c\r\n\r\n", 400),
    "a bare CR in a value": (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: b\rc\r\n\r\n", 400),
    "a NUL in a value": (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: b\x00c\r\n\r\n", 400),
    "a lowercase method": (b"get / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
    "HTTP/2.0 as text": (b"GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", 400),
    "a request line over 8190 bytes": (
        b"GET /" + b"a" * 8200 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        414,
    ),
    "a header over 8190 bytes": (
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: " + b"b" * 8200 + b"\r\n\r\n",
        431,
    ),
    "101 headers": (
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + b"".join(b"X-%d: b\r\n" % i for i in range(100))
        + b"\r\n",
        431,
    ),
}


def test_gunicorn_refuses_malformed_requests_before_the_app(gunicorn):
    answered = {name: status(gunicorn.port, raw) for name, (raw, _) in MALFORMED.items()}
    well_formed = f"GET {STATIC} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()

    assert answered == {name: expected for name, (_, expected) in MALFORMED.items()}
    assert status(gunicorn.port, well_formed) == 200


def status(port: int, raw: bytes) -> int:
    """The status of gunicorn's answer to `raw`, sent as is on a connection of its own."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        answer = b""
        while b"\r\n" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_a_reload_under_load_refuses_no_connection_and_replaces_the_workers(folder, gunicorn):
    before = gunicorn.workers()
    results: list[float | None] = []
    loader = threading.Thread(target=lambda: results.extend(others(gunicorn.port, seconds=8)))
    loader.start()
    time.sleep(2)
    gunicorn.process.send_signal(signal.SIGHUP)  # graceful: new workers, old ones finish
    loader.join()
    deadline = time.monotonic() + 20
    while gunicorn.workers() & before or len(gunicorn.workers()) < len(before):
        assert time.monotonic() < deadline, "the old workers were not replaced"
        time.sleep(0.2)

    print(f"reload under load: {len(results)} requests, {results.count(None)} failed")
    assert len(results) > 50
    assert None not in results
    assert not gunicorn.workers() & before


def test_two_instances_on_one_host_have_a_control_socket_each(folder):
    first, second = Gunicorn(folder), Gunicorn(folder)
    try:
        sockets = [
            ROOT / "var" / f"gunicorn-{server.process.pid}.ctl" for server in (first, second)
        ]
        deadline = time.monotonic() + 10
        while not all(path.exists() for path in sockets):
            assert time.monotonic() < deadline, sockets
            time.sleep(0.1)
        reported = [
            {worker["pid"] for worker in json.loads(gunicornc(path, "show workers"))["workers"]}
            for path in sockets
        ]
        running = [first.workers(), second.workers()]
    finally:
        first.stop()
        second.stop()

    # Each socket answers for its own instance.
    assert reported == running
    assert not reported[0] & reported[1]
    assert not any(path.exists() for path in sockets)  # removed when its instance stops


def gunicornc(path: Path, command: str) -> str:
    return subprocess.run(
        [str(Path(sys.executable).parent / "gunicornc"), "-s", str(path), "-c", command, "-j"],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout  # fmt: skip
