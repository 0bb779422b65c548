"""Print the app's one-statement write of a single execution (analytics.services) as a pgbench
script, run through `manage.py shell`: the very statement the endpoint sends, with wrk's
record as its document, `:n` choosing the playbook (see seed.py) and the site key from
BENCH_KEY. What must differ per execution (its id, the time) is computed by PostgreSQL.
"""

import json
import os
import uuid

from django.db import connection
from django.utils import timezone
from psycopg import ClientCursor

from analytics.services import RECORD_FOR_SITE_KEY, _document, _execution

fields = {
    "workflow_id": uuid.UUID(int=0), "status": "success", "execution_time_ms": 250,
    "page_url": "https://example.com/pricing", "session_id": "s", "device_type": "desktop",
    "trigger_name": "UTM Parameters",
    "actions": [
        {"name": "Replace Text", "selector": ".a", "execution_time_ms": 4},
        {"name": "Add Class", "selector": ".b", "execution_time_ms": 2},
        {"name": "Hide", "selector": ".c", "execution_time_ms": 1},
    ],
}  # fmt: skip
document = _document(_execution(None, None, fields, timezone.now()), fields)
per_execution = """jsonb_build_object(
    'public_id', gen_random_uuid(),
    'workflow', '00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'),
    'executed_at', now(), 'received_at', now(), 'hour', date_trunc('hour', now()),
    'day', (now() AT TIME ZONE 'UTC')::date)"""
for name in ("public_id", "workflow", "executed_at", "received_at", "hour", "day"):
    del document[name]
constant = json.dumps(document).replace("'", "''")
items = f"jsonb_build_array({per_execution} || '{constant}'::jsonb)"

connection.ensure_connection()
sql = ClientCursor(connection.connection).mogrify(
    RECORD_FOR_SITE_KEY.replace("%(items)s", "ITEMS"),
    {"site_key": os.environ["BENCH_KEY"], "origin": None},
)
print("STATEMENT" + " ".join(sql.replace("ITEMS", items).split()) + ";")
