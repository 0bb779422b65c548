"""Print the app's one-statement write of a single execution (analytics.services) as a pgbench
script, run through `manage.py shell`: the very statement the endpoint sends, with wrk's
record as its values, `:n` choosing the playbook (see seed.py) and the site key from BENCH_KEY.
"""

import os
import uuid
from datetime import UTC, date, datetime

from django.db import connection
from psycopg import ClientCursor
from psycopg.types.json import Jsonb

from analytics.services import RECORD_FOR_SITE_KEY, _event_data, _event_type

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
    "actions": Jsonb([
        {"event_type": _event_type(action), "selector": action["selector"],
         "data": _event_data(action)}
        for action in actions
    ]),
}  # fmt: skip
connection.ensure_connection()
cursor = ClientCursor(connection.connection)
sql = cursor.mogrify(RECORD_FOR_SITE_KEY, params)
for sentinel, expression in {
    f"'{WORKFLOW.hex}'::uuid": "('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid",
    f"'{PUBLIC_ID.hex}'::uuid": "gen_random_uuid()",
    f"'{CLIENT_ID}'": "md5(random()::text)",
    "'2001-01-01 01:01:01+00:00'::timestamptz": "now()",
    "'2002-02-02 02:00:00+00:00'::timestamptz": "date_trunc('hour', now())",
    "'2003-03-03'::date": "(now() AT TIME ZONE 'UTC')::date",
}.items():
    assert sentinel in sql, (sentinel, sql)
    sql = sql.replace(sentinel, expression)
print("STATEMENT" + " ".join(sql.split()) + ";")
