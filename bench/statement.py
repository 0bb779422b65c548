"""Print the app's two write statements (analytics.services) as pgbench scripts, run through
`manage.py shell`: the very statements the endpoint sends, with wrk's record as their values.

STATEMENT: a single execution, `:n` choosing the playbook (see seed.py), the site key from
BENCH_KEY. BATCH: BENCH_BATCH executions of the owner BENCH_OWNER, each with its own ids and
one of BENCH_WORKFLOWS playbooks at random. Each execution's document is built by PostgreSQL,
with fresh ids and the time of the run.
"""

import os
import uuid
from datetime import UTC, datetime

from django.db import connection
from psycopg import ClientCursor
from psycopg.types.json import Jsonb

from analytics.services import Row, _statements, execution_columns
from workflows.models import Site

actions = [
    {"name": "Replace Text", "selector": ".a", "execution_time_ms": 4, "config": {"text": "Offer"}},
    {"name": "Add Class", "selector": ".b", "execution_time_ms": 2, "config": {"className": "x"}},
    {"name": "Hide", "selector": ".c", "execution_time_ms": 1, "config": {}},
]
item = {
    "workflow_id": uuid.UUID(int=0), "status": "success", "execution_time_ms": 250,
    "page_url": "https://example.com/pricing", "session_id": "s", "device_type": "desktop",
    "trigger_name": "UTM Parameters", "client_execution_id": "id", "actions": actions,
}  # fmt: skip
# What PostgreSQL computes afresh for each execution, in place of the values sent.
playbook = "('00000000-0000-4000-8000-' || lpad(({})::text, 12, '0'))::uuid"
generated = {
    "public_id": "gen_random_uuid()",
    "client_execution_id": "md5(random()::text)",
    "executed_at": "now()",
    "received_at": "now()",
    "hour": "date_trunc('hour', now())",
    "day": "(now() AT TIME ZONE 'UTC')::date",
}
connection.ensure_connection()
cursor = ClientCursor(connection.connection)


def document(workflow: str) -> str:
    """One execution's document (`Row.document`) as a jsonb_build_object expression."""
    fields = Row(item, execution_columns(item, datetime.now(UTC))).document
    values = {**generated, "workflow": playbook.format(workflow)}
    pairs = ", ".join(
        f"'{key}', {values.get(key) or cursor.mogrify('%s', [Jsonb(value)])}"
        for key, value in fields.items()
    )
    return f"jsonb_build_object({pairs})"


def script(sql: str, params: dict, sentinel_param: str, replacement: str) -> str:
    text = cursor.mogrify(sql, {**params, sentinel_param: Jsonb("DOCUMENT")})
    assert "'\"DOCUMENT\"'" in text, text
    return " ".join(text.replace("'\"DOCUMENT\"'", f"({replacement})").split()) + ";"


statements = _statements()
single = script(
    statements.for_site_key,
    {"site_key": os.environ["BENCH_KEY"], "origin": None},
    "item",
    document(":n"),
)
print("STATEMENT" + single)
batch_document = (
    f"SELECT jsonb_agg({document(f'floor(random() * {os.environ["BENCH_WORKFLOWS"]})::int')})"
    f" FROM generate_series(1, {os.environ['BENCH_BATCH']})"
)
site_id = Site.objects.get(site_key=os.environ["BENCH_KEY"]).pk  # a batch posted with its key
batch = script(
    statements.for_owner,
    {"owner_id": int(os.environ["BENCH_OWNER"]), "site_id": site_id},
    "items",
    batch_document,
)
print("BATCH" + batch)
