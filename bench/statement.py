"""Print the app's two write statements (analytics.services) as pgbench scripts, run through
`manage.py shell`: the very statements the endpoint sends, with wrk's record as their values.

STATEMENT: a single execution, `:n` choosing the playbook (see seed.py), the site key from
BENCH_KEY. BATCH: BENCH_BATCH executions of the owner BENCH_OWNER, each with its own ids and
one of BENCH_WORKFLOWS playbooks at random, their document built by PostgreSQL. PostgreSQL
computes fresh ids and the time of the run for each execution.
"""

import os
import uuid
from datetime import UTC, datetime

from django.db import connection
from psycopg import ClientCursor
from psycopg.types.json import Jsonb

from analytics.services import (
    Row,
    _statements,
    event_columns,
    execution_columns,
    exposure_of,
    rollup_columns,
)
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
# The single statement's parameters, with sentinels where PostgreSQL computes the value.
SENTINEL_UUID = uuid.UUID("22222222-2222-4222-8222-222222222222")
SENTINEL_WORKFLOW = uuid.UUID("11111111-1111-4111-8111-111111111111")
SENTINEL_TIME = datetime(2001, 1, 1, 1, 1, 1, tzinfo=UTC)
columns = {
    **execution_columns(item, SENTINEL_TIME),
    "public_id": SENTINEL_UUID,
    "client_execution_id": "client-execution-id",
}
params = {
    **columns,
    **rollup_columns(columns),
    "hour": datetime(2002, 2, 2, 2, tzinfo=UTC),
    "day": datetime(2003, 3, 3).date(),
    "workflow": SENTINEL_WORKFLOW,
    "actions": Jsonb([event_columns(action) for action in actions]),
    **exposure_of(item),
    "site_key": os.environ["BENCH_KEY"],
    "origin": None,
}
single = cursor.mogrify(statements.for_site_key, params)
for sentinel, expression in {
    f"'{SENTINEL_WORKFLOW.hex}'::uuid": playbook.format(":n"),
    f"'{SENTINEL_UUID.hex}'::uuid": generated["public_id"],
    "'client-execution-id'": generated["client_execution_id"],
    "'2001-01-01 01:01:01+00:00'::timestamptz": "now()",
    "'2002-02-02 02:00:00+00:00'::timestamptz": generated["hour"],
    "'2003-03-03'::date": generated["day"],
}.items():
    assert sentinel in single, (sentinel, single)
    single = single.replace(sentinel, expression)
print("STATEMENT" + " ".join(single.split()) + ";")
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
