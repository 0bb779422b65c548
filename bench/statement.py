"""Print the app's one-statement writes (analytics.services) as pgbench scripts, run through
`manage.py shell`: the very statements the endpoint sends, with wrk's record as their values.

STATEMENT: a single execution, `:n` choosing the playbook (see seed.py), the site key from
BENCH_KEY. BATCH: BENCH_BATCH executions of the owner BENCH_OWNER, the document the app sends
built by PostgreSQL, each item with its own ids and one of BENCH_WORKFLOWS playbooks at random.
"""

import os
import uuid
from datetime import UTC, date, datetime

from django.db import connection
from psycopg import ClientCursor
from psycopg.types.json import Jsonb

from analytics.services import (
    RECORD_FOR_OWNER,
    RECORD_FOR_SITE_KEY,
    _actions_document,
    _columns,
    _document,
)
from workflows.models import Site

WORKFLOW = uuid.UUID("11111111-1111-4111-8111-111111111111")
PUBLIC_ID = uuid.UUID("22222222-2222-4222-8222-222222222222")
EXECUTED = datetime(2001, 1, 1, 1, 1, 1, tzinfo=UTC)
HOUR = datetime(2002, 2, 2, 2, tzinfo=UTC)
DAY = date(2003, 3, 3)
CLIENT_ID = "client-execution-id"
actions = [
    {"name": "Replace Text", "selector": ".a", "execution_time_ms": 4, "config": {"text": "Offer"}},
    {"name": "Add Class", "selector": ".b", "execution_time_ms": 2, "config": {"className": "x"}},
    {"name": "Hide", "selector": ".c", "execution_time_ms": 1, "config": {}},
]
params = {
    "site_key": os.environ["BENCH_KEY"], "origin": None, "workflow_id": WORKFLOW,
    "public_id": PUBLIC_ID, "status": "success", "execution_time_ms": 250,
    "page_url": "https://example.com/pricing", "session_id": "s", "device_type": "desktop",
    "trigger_name": "UTM Parameters", "client_user_id": "", "client_execution_id": CLIENT_ID,
    "executed_at": EXECUTED, "received_at": EXECUTED, "hour": HOUR, "day": DAY,
    "executions": 1, "errors": 0, "timeouts": 0, "desktop": 1, "mobile": 0, "tablet": 0,
    "total_time_ms": 250,
    "actions": Jsonb(_actions_document(actions)),
}  # fmt: skip
connection.ensure_connection()
cursor = ClientCursor(connection.connection)
sql = cursor.mogrify(RECORD_FOR_SITE_KEY, params)
playbook = "('00000000-0000-4000-8000-' || lpad({}::text, 12, '0'))::uuid"
for sentinel, expression in {
    f"'{WORKFLOW.hex}'::uuid": playbook.format(":n"),
    f"'{PUBLIC_ID.hex}'::uuid": "gen_random_uuid()",
    f"'{CLIENT_ID}'": "md5(random()::text)",
    "'2001-01-01 01:01:01+00:00'::timestamptz": "now()",
    "'2002-02-02 02:00:00+00:00'::timestamptz": "date_trunc('hour', now())",
    "'2003-03-03'::date": "(now() AT TIME ZONE 'UTC')::date",
}.items():
    assert sentinel in sql, (sentinel, sql)
    sql = sql.replace(sentinel, expression)
print("STATEMENT" + " ".join(sql.split()) + ";")

item = {
    "workflow_id": WORKFLOW, "status": "success", "execution_time_ms": 250,
    "page_url": "https://example.com/pricing", "session_id": "s", "device_type": "desktop",
    "trigger_name": "UTM Parameters", "client_execution_id": CLIENT_ID, "actions": actions,
}  # fmt: skip
generated = {
    "public_id": "gen_random_uuid()",
    "workflow": playbook.format(f"floor(random() * {os.environ['BENCH_WORKFLOWS']})::int"),
    "client_execution_id": "md5(random()::text)",
    "executed_at": "now()",
    "received_at": "now()",
    "hour": "date_trunc('hour', now())",
    "day": "(now() AT TIME ZONE 'UTC')::date",
}
fields = ", ".join(
    f"'{key}', {generated.get(key) or cursor.mogrify('%s', [Jsonb(value)])}"
    for key, value in _document(item, _columns(item, EXECUTED)).items()
)
document = (
    f"(SELECT jsonb_agg(jsonb_build_object({fields}))"
    f" FROM generate_series(1, {os.environ['BENCH_BATCH']}))"
)
site_id = Site.objects.get(site_key=os.environ["BENCH_KEY"]).pk  # a batch posted with its key
batch = cursor.mogrify(
    RECORD_FOR_OWNER, {"items": Jsonb("DOCUMENT"), "owner_id": 0, "site_id": site_id}
)
batch = batch.replace("'\"DOCUMENT\"'::jsonb", document).replace(
    "owner_id = 0", f"owner_id = {int(os.environ['BENCH_OWNER'])}"
)
assert document in batch and "owner_id = 0" not in batch, batch
print("BATCH" + " ".join(batch.split()) + ";")
