"""`make run`'s quick start: SQLite and no Redis, the demo loaded, every page answers."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PAGES = """
from django.test import Client
from analytics.models import Execution
from workflows.models import Workflow
client = Client(HTTP_HOST="127.0.0.1")
assert client.login(username="demo", password="demo-password")
playbook = Workflow.objects.filter(execution_records__isnull=False).first()
run = Execution.objects.first()
for url in ["/", "/?range=24h", "/playbooks/", f"/playbooks/{playbook.public_id}/",
            f"/playbooks/{playbook.public_id}/?range=48h", f"/playbooks/{playbook.public_id}/edit/",
            "/analytics/?range=90d", "/analytics/?path=/pricing&status=error",
            "/analytics/executions.csv", f"/executions/{run.execution_id}/", "/sites/",
            "/settings/"]:
    print(client.get(url).status_code, url)
"""


def test_the_quick_start_serves_every_page_on_sqlite(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env.update(DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")

    def manage(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=Path(settings.BASE_DIR), env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

    manage("migrate", "--noinput", "-v0")
    manage("load_demo", "--executions", "60")
    answers = manage("shell", "-v0", "-c", PAGES).splitlines()

    assert len(answers) == 12
    assert all(line.startswith("200 ") for line in answers), answers
