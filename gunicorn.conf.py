"""How `gunicorn tracker.wsgi` serves the project (gunicorn reads this file from the working
directory; options on its command line or in GUNICORN_CMD_ARGS override it).

Threaded workers, one per core, keep each client's connection open between requests. Sync
workers accept, parse and close a connection per request: on the tracking benchmark (2 cores,
16 clients, `make bench`) 4 sync workers posted 38–39% of pgbench's rate at 1.28–1.73 app
CPU-ms per post, 2 workers of 4 threads 44–49% at 0.82–1.37 (2 × 8 threads: 46%; 3 × 4: 45%;
2 × 2: 37%). A database or Redis round trip releases the GIL, so a worker's threads overlap them.
"""

import os

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
threads = 4
# A request's own waits are bounded far below this (connect 2 s, statement 5 s, lock 2 s).
timeout = 30
