"""How `gunicorn tracker.wsgi` serves the project (gunicorn reads this file from the working
directory; options on its command line or in GUNICORN_CMD_ARGS override it).

Threaded workers, one per core, keep each client's connection open between requests (sync
workers accept, parse and close a connection per request), and a database or Redis round trip
releases the GIL, so a worker's threads overlap them. docs/scaling.md says what was measured.
"""

import gc
import os
from pathlib import Path

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
threads = 4
# A request's waits on the database are bounded far below this (DB_CONNECT_TIMEOUT,
# DB_STATEMENT_TIMEOUT_MS, DB_LOCK_TIMEOUT_MS).
timeout = 30

# gunicornc talks to this instance through a control socket of its own, in the deployment's
# folder and named after the master's process id: gunicorn's default is one path per user,
# which two instances on one host would share. GUNICORN_CONTROL_SOCKET chooses another path.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET") or str(
    Path(__file__).resolve().parent / "var" / f"gunicorn-{os.getpid()}.ctl"
)


def post_worker_init(worker) -> None:
    """What a worker loaded to start (Django, the app, their modules) lives as long as it does:
    frozen out of the garbage collector's full passes, which would otherwise walk all of it
    again and again in the middle of requests."""
    gc.freeze()
