"""The write path: recording playbook executions."""

import uuid
import weakref
from collections import defaultdict
from collections.abc import Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import psycopg
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from psycopg.types.json import Jsonb

from analytics.models import ROLLUP_SUMS, AnalyticsEvent, DailyStat, Execution, HourlyStat
from workflows.models import Site, SiteOrigin, Workflow


class WorkflowNotFound(Exception):
    """The workflow does not exist, or is not the caller's to record."""


@dataclass(frozen=True)
class RecordedExecution:
    execution_id: str
    created: bool


# An execution as validated, and its own columns (`_columns`).
Row = tuple[Mapping[str, Any], dict[str, Any]]


def record_execution(*, owner, site: Site | None, **fields: Any) -> RecordedExecution:
    """Count one execution of `owner`'s workflow (see `record_executions`)."""
    (recorded,) = record_executions(owner=owner, site=site, items=[fields])
    if recorded is None:
        raise WorkflowNotFound(fields["workflow_id"])
    return recorded


def record_executions(
    *, owner, site: Site | None, items: Sequence[Mapping[str, Any]]
) -> list[RecordedExecution | None]:
    """Record executions of `owner`'s workflows: rows, events, counters, last run, rollups.

    Each item holds `workflow_id`, `status`, `execution_time_ms` and optionally `page_url`,
    `session_id`, `device_type`, `trigger_name`, `client_user_id`, `client_execution_id`,
    `started_at` and `actions`. Answers per item, in order: the recording, or None when the
    workflow is not the owner's (or not on `site`). All go in one transaction: one statement
    on PostgreSQL, one per table elsewhere. An item whose `client_execution_id` this owner
    already recorded changes nothing and answers the first recording (`created=False`), also
    when both arrive at once.
    """
    now = timezone.now()
    rows = [(item, _columns(item, now)) for item in items]
    try:
        written = _write(owner, site, rows)
    except IntegrityError:
        # An execution id was recorded before, or twice in this batch: one at a time.
        return [_write_once(owner, site, row) for row in rows]
    return [_created(columns) if columns["public_id"] in written else None for _, columns in rows]


def _write_once(owner, site: Site | None, row: Row) -> RecordedExecution | None:
    item, columns = row
    try:
        written = _write(owner, site, [row])
    except IntegrityError:
        client_id = item.get("client_execution_id")
        first = Execution.objects.filter(owner=owner, client_execution_id=client_id)
        first_public_id = first.values_list("public_id", flat=True).first() if client_id else None
        if first_public_id is None:
            raise
        return RecordedExecution(Execution.public_execution_id(first_public_id), created=False)
    return _created(columns) if written else None


def _created(columns: Mapping[str, Any]) -> RecordedExecution:
    return RecordedExecution(Execution.public_execution_id(columns["public_id"]), created=True)


def _write(owner, site: Site | None, rows: list[Row]) -> set[uuid.UUID]:
    """Record the rows whose playbook is the owner's (and on `site`, when there is one); the
    public ids of the executions written."""
    if not rows:
        return set()
    if connection.vendor == "postgresql":
        return _write_in_one_statement(owner, site, rows)
    workflows = Workflow.objects.for_user(owner).filter(
        public_id__in={item["workflow_id"] for item, _ in rows}
    )
    if site is not None:
        workflows = workflows.filter(site=site)
    pk_of = dict(workflows.values_list("public_id", "pk"))
    written = [
        (pk_of[item["workflow_id"]], item, columns)
        for item, columns in rows
        if item["workflow_id"] in pk_of
    ]
    if written:
        _write_with_the_orm(owner, written)
    return {columns["public_id"] for _, _, columns in written}


# What the ORM version stores: each execution's playbook, its item, and its columns.
Written = list[tuple[int, Mapping[str, Any], dict[str, Any]]]


def _write_with_the_orm(owner, written: Written) -> None:
    """`_write` on any database: a statement per table, one upsert per rollup."""
    executions = [
        (Execution(workflow_id=workflow_pk, owner=owner, **columns), item)
        for workflow_pk, item, columns in written
    ]
    runs: dict[int, list[datetime]] = defaultdict(list)
    for workflow_pk, _, columns in written:
        runs[workflow_pk].append(columns["executed_at"])
    with transaction.atomic():
        # Rows first: a concurrent duplicate execution id waits on the unique index here and
        # fails before any counter moves.
        Execution.objects.bulk_create(execution for execution, _ in executions)
        AnalyticsEvent.objects.bulk_create(
            _event(action, execution=execution)
            for execution, item in executions
            for action in item.get("actions", ())
        )
        _count_runs(runs)
        _count_in_rollups(owner, written)


def _count_runs(runs: dict[int, list[datetime]]) -> None:
    """One UPDATE for every playbook's counter and last run, after locking their rows in
    primary key order, so that two batches never wait for each other's rows."""
    pks = sorted(runs)
    playbooks = Workflow.objects.filter(pk__in=pks)
    if len(pks) > 1:
        list(playbooks.order_by("pk").select_for_update().values_list("pk", flat=True))

    def per_playbook(value_of) -> Case:
        return Case(*(When(pk=pk, then=Value(value_of(runs[pk]))) for pk in pks))

    latest = per_playbook(max)
    playbooks.update(
        executions=F("executions") + per_playbook(len),
        # A late delivery never moves last_run backwards.
        last_run=Greatest(Coalesce("last_run", latest), latest),
    )


def _columns(item: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """An execution's own columns (all but its playbook and owner), from its validated item."""
    started_at = item.get("started_at")
    return {
        "public_id": uuid.uuid4(),
        "status": item["status"],
        "execution_time_ms": item["execution_time_ms"],
        "page_url": item.get("page_url", ""),
        "session_id": item.get("session_id", ""),
        "device_type": item.get("device_type", ""),
        "trigger_name": item.get("trigger_name", ""),
        "client_user_id": item.get("client_user_id", ""),
        "client_execution_id": item.get("client_execution_id"),
        # A queued execution is dated when it ran; a clock slightly ahead is brought back.
        "executed_at": min(started_at, now) if started_at else now,
        "received_at": now,
    }


def _event(action: Mapping[str, Any], *, execution: Execution) -> AnalyticsEvent:
    return AnalyticsEvent(
        workflow_id=execution.workflow_id,
        execution=execution,
        event_type=_event_type(action),
        element_selector=action.get("selector", ""),
        page_url=execution.page_url,
        event_data=_event_data(action),
        created_at=execution.executed_at,
    )


def _event_type(action: Mapping[str, Any]) -> str:
    if action.get("error"):
        return AnalyticsEvent.EventType.ACTION_FAILED
    return AnalyticsEvent.EventType.ACTION_EXECUTED


def _event_data(action: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": action["name"],
        "config": action.get("config", {}),
        "executionTimeMs": action.get("execution_time_ms"),
        "error": action.get("error") or "",
    }


def _rollup_upsert(model: type[HourlyStat | DailyStat], bucket: str) -> str:
    """INSERT `{rows}` into a rollup, adding to the rows already there (the ORM's upsert can
    only overwrite)."""
    table = model._meta.db_table
    additions = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in ROLLUP_SUMS)
    return (
        f"INSERT INTO {table} (workflow_id, owner_id, {bucket}, {', '.join(ROLLUP_SUMS)}) {{rows}}"
        f" ON CONFLICT (workflow_id, {bucket}) DO UPDATE SET {additions}"
    )


HOURLY_UPSERT = _rollup_upsert(HourlyStat, "hour")
DAILY_UPSERT = _rollup_upsert(DailyStat, "day")


def _count_in_rollups(owner, written: Written) -> None:
    """One upsert per rollup for all the executions' hours, and days."""
    rollups = [(workflow_pk, _rollup_columns(columns)) for workflow_pk, _, columns in written]
    for upsert, bucket, adapt in (
        (HOURLY_UPSERT, "hour", connection.ops.adapt_datetimefield_value),
        (DAILY_UPSERT, "day", connection.ops.adapt_datefield_value),
    ):
        sums: dict[tuple[int, datetime | date], list[int]] = defaultdict(
            lambda: [0] * len(ROLLUP_SUMS)
        )
        for workflow_pk, rollup in rollups:
            row = sums[(workflow_pk, rollup[bucket])]
            for position, name in enumerate(ROLLUP_SUMS):
                row[position] += rollup[name]
        params: list[Any] = []
        for (workflow_pk, bucket), row in sorted(sums.items()):
            params += [workflow_pk, owner.pk, adapt(bucket), *row]
        placeholders = ", ".join(
            ["(" + ", ".join(["%s"] * (3 + len(ROLLUP_SUMS))) + ")"] * len(sums)
        )
        with connection.cursor() as cursor:
            cursor.execute(upsert.format(rows=f"VALUES {placeholders}"), params)


def _rollup_columns(columns: Mapping[str, Any]) -> dict[str, Any]:
    """An execution's hour and day (UTC), and what it adds to each (ROLLUP_SUMS)."""
    executed_at = columns["executed_at"].astimezone(UTC)
    status, device_type = columns["status"], columns["device_type"]
    return {
        "hour": executed_at.replace(minute=0, second=0, microsecond=0),
        "day": executed_at.date(),
        "executions": 1,
        "errors": int(status == Execution.Status.ERROR),
        "timeouts": int(status == Execution.Status.TIMEOUT),
        "desktop": int(device_type == "desktop"),
        "mobile": int(device_type == "mobile"),
        "tablet": int(device_type == "tablet"),
        "total_time_ms": columns["execution_time_ms"],
    }


ROLLUP_OF_RECORDED = f"""SELECT workflow_pk, owner_pk, {{bucket}},
    {", ".join(f"sum({name})" for name in ROLLUP_SUMS)} FROM recorded
    GROUP BY workflow_pk, owner_pk, {{bucket}} ORDER BY workflow_pk, {{bucket}}"""


# `_write` on PostgreSQL: the owner's executions in one statement (one round trip, one
# transaction) from a JSON document (`_document`); an item whose playbook is not the owner's
# (or not on the site) is left out, and the public ids of those written come back. Rows and
# events first, then the rows other requests also write, in the order the ORM version and the
# single statement take them: counters (locked in primary key order), hourly and daily rollups
# (in key order). A repeated execution id fails it, which `record_executions` handles.
RECORD_FOR_OWNER = f"""
WITH item AS (
    SELECT * FROM jsonb_to_recordset(%(items)s) AS item (public_id uuid, workflow uuid,
        status text, execution_time_ms int, page_url text, session_id text, device_type text,
        trigger_name text, client_user_id text, client_execution_id text,
        executed_at timestamptz, received_at timestamptz, hour timestamptz, day date,
        {", ".join(f"{name} bigint" for name in ROLLUP_SUMS)}, actions jsonb)
),
target AS (
    SELECT item.*, workflow.id AS workflow_pk, workflow.owner_id AS owner_pk
    FROM item JOIN {Workflow._meta.db_table} workflow
        ON workflow.public_id = item.workflow AND workflow.owner_id = %(owner_id)s
        AND (%(site_id)s::bigint IS NULL OR workflow.site_id = %(site_id)s)
),
execution AS (
    INSERT INTO {Execution._meta.db_table} (public_id, workflow_id, owner_id, status,
        execution_time_ms, page_url, session_id, device_type, trigger_name, client_user_id,
        client_execution_id, executed_at, received_at)
    SELECT public_id, workflow_pk, owner_pk, status, execution_time_ms, page_url, session_id,
        device_type, trigger_name, client_user_id, client_execution_id, executed_at,
        received_at
    FROM target
    RETURNING id, public_id
),
recorded AS (
    SELECT target.*, execution.id AS execution_pk
    FROM target JOIN execution ON execution.public_id = target.public_id
),
events AS (
    INSERT INTO {AnalyticsEvent._meta.db_table} (workflow_id, execution_id, event_type,
        element_selector, page_url, event_data, created_at)
    SELECT recorded.workflow_pk, recorded.execution_pk, action.event_type, action.selector,
        recorded.page_url, action.data, recorded.executed_at
    FROM recorded,
        jsonb_to_recordset(recorded.actions) AS action (event_type text, selector text, data jsonb)
),
runs AS (
    SELECT workflow_pk, count(*) AS n, max(executed_at) AS latest
    FROM recorded GROUP BY workflow_pk
),
locked AS (
    SELECT workflow.id FROM {Workflow._meta.db_table} workflow
    WHERE workflow.id IN (SELECT workflow_pk FROM runs) ORDER BY workflow.id FOR UPDATE
),
counter AS (
    UPDATE {Workflow._meta.db_table} workflow
    SET executions = workflow.executions + runs.n,
        last_run = GREATEST(COALESCE(workflow.last_run, runs.latest), runs.latest)
    FROM runs WHERE workflow.id = runs.workflow_pk AND workflow.id IN (SELECT id FROM locked)
),
hourly AS ({HOURLY_UPSERT.format(rows=ROLLUP_OF_RECORDED.format(bucket="hour"))}),
daily AS ({DAILY_UPSERT.format(rows=ROLLUP_OF_RECORDED.format(bucket="day"))})
SELECT public_id FROM execution
"""
ROLLUP_ROW = f"""SELECT execution.workflow_id, execution.owner_id, {{bucket}},
    {", ".join(f"%({name})s" for name in ROLLUP_SUMS)} FROM execution"""

# One execution posted with a site key, in one statement of its own: the key, its active
# owner, the origin and the playbook are checked in the statement that writes, and a repeated
# execution id writes nothing. RECORD_FOR_OWNER's shape could serve here too, but prepared,
# a statement reading a JSON document is planned for a hundred rows: PostgreSQL ran it at 686
# a second against 4,500 for this one (pgbench, same run), and the endpoint fell from 754 to
# 277 requests a second. Same sub-statements in the same order, so both take locks alike.
RECORD_FOR_SITE_KEY = f"""
WITH workflow AS (
    SELECT workflow.id, workflow.owner_id
    FROM {Workflow._meta.db_table} workflow
    JOIN {Site._meta.db_table} site
        ON site.id = workflow.site_id AND site.owner_id = workflow.owner_id
    JOIN {Site._meta.get_field("owner").related_model._meta.db_table} owner
        ON owner.id = site.owner_id AND owner.is_active
    WHERE site.site_key = %(site_key)s AND workflow.public_id = %(workflow_id)s
        AND (%(origin)s::text IS NULL OR EXISTS (
            SELECT FROM {SiteOrigin._meta.db_table} allowed
            WHERE allowed.site_id = site.id AND allowed.origin = %(origin)s))
),
execution AS (
    INSERT INTO {Execution._meta.db_table} (public_id, workflow_id, owner_id, status,
        execution_time_ms, page_url, session_id, device_type, trigger_name, client_user_id,
        client_execution_id, executed_at, received_at)
    SELECT %(public_id)s, workflow.id, workflow.owner_id, %(status)s, %(execution_time_ms)s,
        %(page_url)s, %(session_id)s, %(device_type)s, %(trigger_name)s, %(client_user_id)s,
        %(client_execution_id)s, %(executed_at)s, %(received_at)s
    FROM workflow
    ON CONFLICT (owner_id, client_execution_id) WHERE client_execution_id IS NOT NULL
        DO NOTHING
    RETURNING id, workflow_id, owner_id
),
events AS (
    INSERT INTO {AnalyticsEvent._meta.db_table} (workflow_id, execution_id, event_type,
        element_selector, page_url, event_data, created_at)
    SELECT execution.workflow_id, execution.id, action.event_type, action.selector,
        %(page_url)s, action.data, %(executed_at)s
    FROM execution,
        jsonb_to_recordset(%(actions)s) AS action (event_type text, selector text, data jsonb)
),
counter AS (
    UPDATE {Workflow._meta.db_table} workflow
    SET executions = workflow.executions + 1,
        last_run = GREATEST(COALESCE(workflow.last_run, %(executed_at)s), %(executed_at)s)
    FROM execution WHERE workflow.id = execution.workflow_id
),
hourly AS ({HOURLY_UPSERT.format(rows=ROLLUP_ROW.format(bucket="%(hour)s"))}),
daily AS ({DAILY_UPSERT.format(rows=ROLLUP_ROW.format(bucket="%(day)s"))})
SELECT count(*) FROM execution
"""


def record_for_site_key(
    *, site_key: str, origin: str | None, fields: Mapping[str, Any]
) -> RecordedExecution | None:
    """Record one execution posted with a site key, in one statement, when everything about
    it is in order: the key is a site's, the site lists `origin` (when there is one), the
    workflow is on that site, and the execution id is new. Otherwise writes nothing and
    answers None: `record_executions` then gives the exact outcome (404, a duplicate, ...).

    PostgreSQL only (data-modifying WITH); elsewhere always None.
    """
    if connection.vendor != "postgresql":
        return None
    columns = _columns(fields, timezone.now())
    params = {
        **columns,
        "site_key": site_key,
        "origin": origin,
        "workflow_id": fields["workflow_id"],
        **_rollup_columns(columns),
        "actions": Jsonb(_actions_document(fields.get("actions", ())), dumps=msgspec.json.encode),
    }
    with _prepared_cursor() as cursor:
        cursor.execute(RECORD_FOR_SITE_KEY, params)
        (written,) = cursor.fetchone()
    return _created(columns) if written else None


def _write_in_one_statement(owner, site: Site | None, rows: list[Row]) -> set[uuid.UUID]:
    document = [_document(item, columns) for item, columns in rows]
    # A statement is a transaction of its own; inside another one, a savepoint keeps that one
    # usable when this fails (a repeated execution id, which `record_executions` handles).
    savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
    with savepoint, _prepared_cursor() as cursor:
        items = Jsonb(document, dumps=msgspec.json.encode)
        site_id = site.pk if site is not None else None
        cursor.execute(RECORD_FOR_OWNER, {"items": items, "owner_id": owner.pk, "site_id": site_id})
        return {public_id for (public_id,) in cursor.fetchall()}


def _document(item: Mapping[str, Any], columns: Mapping[str, Any]) -> dict[str, Any]:
    """One execution as RECORD_FOR_OWNER reads it (`item` there)."""
    return {
        **columns,
        "workflow": item["workflow_id"],
        **_rollup_columns(columns),
        "actions": _actions_document(item.get("actions", ())),
    }


def _actions_document(actions) -> list[dict[str, Any]]:
    """An execution's events as the statements read them with jsonb_to_recordset."""
    return [
        {
            "event_type": _event_type(action),
            "selector": action.get("selector", ""),
            "data": _event_data(action),
        }
        for action in actions
    ]


@contextmanager
def _prepared_cursor():
    """A cursor that sends parameters apart from the statement (Django's inline them), so that
    psycopg prepares a statement it sees again and PostgreSQL plans it once per connection.
    Opened as Django opens its own: a persistent connection that died is replaced first.

    One cursor per connection serves every request: it keeps what it learnt about adapting
    each parameter's type (a new cursor per post cost about 70 µs of CPU, a fifth of the
    statement's). Django's wrapper still turns database errors into Django's.
    """
    wrapper = connections[DEFAULT_DB_ALIAS]
    wrapper.close_if_health_check_failed()
    wrapper.ensure_connection()
    cursor = STATEMENT_CURSORS.get(wrapper)
    if cursor is None or cursor.connection is not wrapper.connection:
        cursor = STATEMENT_CURSORS[wrapper] = psycopg.Cursor(wrapper.connection)
    if wrapper.queries_logged:
        yield wrapper.make_debug_cursor(cursor)
    else:
        yield wrapper.make_cursor(cursor)


# Each Django connection's statement cursor (per thread, as Django's connections are).
STATEMENT_CURSORS: weakref.WeakKeyDictionary[Any, psycopg.Cursor] = weakref.WeakKeyDictionary()
