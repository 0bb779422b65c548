"""The write path: recording playbook executions and the visitors they expose.

What an execution stores is read from the models: `execution_columns` fills every field of
`Execution` from a validated item, `event_columns` every field of `AnalyticsEvent` an action
gives, `rollup_columns` what each rollup row adds up (`ROLLUP_SUMS`). The three writers (one
statement for a site key's single execution, one for an owner's executions, the ORM for other
databases) store exactly those.

An item with a `visitor_id` also records the visitor's exposure to the playbook (once per
playbook and visitor), and credits the playbook with the goals that visitor reached after it
(conversions delivered before the execution). A held-out item records only that exposure.
"""

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import msgspec
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from psycopg.types.json import Jsonb

from analytics.models import (
    ROLLUP_SUMS,
    AnalyticsEvent,
    Attribution,
    Conversion,
    DailyStat,
    Execution,
    Exposure,
    HourlyStat,
    LiftTally,
    NotCounted,
)
from workflows.models import Site, SiteOrigin, Workflow


class WorkflowNotFound(Exception):
    """The workflow does not exist, or is not the caller's to record."""


@dataclass(frozen=True)
class RecordedExecution:
    execution_id: str | None  # None for a held-out run: only its exposure is stored
    created: bool


def _stored_fields(model, *, besides: Sequence[str] = ()) -> list:
    return [
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key or field.is_relation or field.name in besides)
    ]


# Every column of an execution but its keys (primary, playbook, owner).
EXECUTION_FIELDS = _stored_fields(Execution)
# An event's columns taken from its execution; the others come from its action.
EVENT_FROM_EXECUTION = {"page_url": "page_url", "created_at": "executed_at"}
EVENT_FIELDS = _stored_fields(AnalyticsEvent, besides=list(EVENT_FROM_EXECUTION))


def execution_columns(item: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """An execution's columns from its validated item (keyed as the model's fields), each
    field's default where the item has none."""
    columns = {
        field.attname: item[field.name] if field.name in item else field.get_default()
        for field in EXECUTION_FIELDS
    }
    # A queued execution is dated when it ran; a clock slightly ahead is brought back.
    started_at = item.get("started_at")
    columns["executed_at"] = min(started_at, now) if started_at else now
    columns["received_at"] = now
    return columns


def event_columns(action: Mapping[str, Any]) -> dict[str, Any]:
    """What an action stores in its event (the rest comes from the execution)."""
    failed = bool(action.get("error"))
    columns = {
        "event_type": AnalyticsEvent.EventType.ACTION_FAILED
        if failed
        else AnalyticsEvent.EventType.ACTION_EXECUTED,
        "element_selector": action.get("selector", ""),
        "event_data": {
            "name": action["name"],
            "config": action.get("config", {}),
            "executionTimeMs": action.get("execution_time_ms"),
            "error": action.get("error") or "",
        },
    }
    return columns


def rollup_columns(columns: Mapping[str, Any]) -> dict[str, Any]:
    """An execution's hour and day (UTC), and what it adds to each rollup (ROLLUP_SUMS)."""
    executed_at = columns["executed_at"].astimezone(UTC)
    status, device_type = columns["status"], columns["device_type"]
    return {
        "hour": executed_at.replace(minute=0, second=0, microsecond=0),
        "day": executed_at.date(),
        "executions": 1,
        "errors": int(status == Execution.Status.ERROR),
        "timeouts": int(status == Execution.Status.TIMEOUT),
        "desktop": int(device_type == Execution.DeviceType.DESKTOP),
        "mobile": int(device_type == Execution.DeviceType.MOBILE),
        "tablet": int(device_type == Execution.DeviceType.TABLET),
        "total_time_ms": columns["execution_time_ms"],
    }


@dataclass
class Row:
    """One execution on its way to the database."""

    item: Mapping[str, Any]
    columns: dict[str, Any]

    @property
    def document(self) -> dict[str, Any]:
        """The execution as the statements read it: its columns, its playbook, its rollup
        columns and its actions' event columns."""
        return {
            **self.columns,
            "workflow": self.item["workflow_id"],
            **rollup_columns(self.columns),
            "actions": [event_columns(action) for action in self.item.get("actions", ())],
            **exposure_of(self.item),
        }


def exposure_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """Who the run exposed (None when the visitor is unknown) and whether they were held out."""
    return {"visitor_id": item.get("visitor_id") or None, "held_out": bool(item.get("held_out"))}


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

    Each item is a validated execution (`TrackExecutionSerializer`). Answers per item, in
    order: the recording, or None when the workflow is not the owner's (or not on `site`).
    All go in one transaction: one statement on PostgreSQL, one per table elsewhere. An item
    whose `client_execution_id` this owner already recorded changes nothing and answers the
    first recording (`created=False`), also when both arrive at once.
    """
    now = timezone.now()
    rows = [Row(item, execution_columns(item, now)) for item in items]
    if connection.vendor == "postgresql":
        written = _write_in_one_statement(owner, site, rows)
    else:
        written = _write_with_the_orm(owner, site, rows)
    return _outcomes(owner.pk, rows, written)


def record_for_site_key(
    *, site_key: str, origin: str | None, fields: Mapping[str, Any]
) -> RecordedExecution | None:
    """Record one execution posted with a site key, in one statement that also checks the
    key, its owner (active), the origin (listed by the site, when there is one) and the
    playbook (on that site). None when one of them is not in order, and nothing is written.

    Elsewhere (SQLite) the key is looked up first, then the execution recorded as any other.
    """
    if connection.vendor != "postgresql":
        site = Site.objects.by_key(site_key, origin)
        if site is None or not site.owner.is_active or site.origin_allowed is False:
            return None
        return record_executions(owner=site.owner, site=site, items=[fields])[0]
    row = Row(fields, execution_columns(fields, timezone.now()))
    params = {
        **row.columns,
        **rollup_columns(row.columns),
        "workflow": fields["workflow_id"],
        "actions": _json([event_columns(action) for action in fields.get("actions", ())]),
        **exposure_of(fields),
        "site_key": site_key,
        "origin": origin,
    }
    with connection.cursor() as cursor:
        cursor.execute(_statements().for_site_key, params)
        found = cursor.fetchone()
    if found is None:
        return None
    owner_pk, created = found
    return _outcomes(owner_pk, [row], {row.columns["public_id"]: created})[0]


def _outcomes(owner_pk: int, rows: list[Row], written: dict) -> list[RecordedExecution | None]:
    """Each row's answer from what was `written` (public id: whether it was new, for the rows
    whose playbook was found): a row left out because its execution id was recorded before
    answers that first recording."""
    repeated = [
        row.columns["client_execution_id"]
        for row in rows
        if written.get(row.columns["public_id"]) is False and not row.item.get("held_out")
    ]
    first = dict(
        Execution.objects.filter(owner_id=owner_pk, client_execution_id__in=repeated).values_list(
            "client_execution_id", "public_id"
        )
        if repeated
        else ()
    )
    # A visitor's exposure to a playbook is recorded by the first of the rows that make it.
    first_exposure: dict[tuple, Row] = {}
    for row in rows:
        first_exposure.setdefault((row.item["workflow_id"], row.item.get("visitor_id")), row)
    outcomes = []
    for row in rows:
        created = written.get(row.columns["public_id"])
        if row.item.get("held_out"):
            made_it = first_exposure[(row.item["workflow_id"], row.item["visitor_id"])] is row
            outcome = RecordedExecution(None, created and made_it)
            outcomes.append(None if created is None else outcome)
            continue
        public_id = (
            row.columns["public_id"] if created else first.get(row.columns["client_execution_id"])
        )
        found = created is not None and public_id is not None
        outcomes.append(
            RecordedExecution(Execution.public_execution_id(public_id), created) if found else None
        )
    return outcomes


def _json(document: Any) -> Jsonb:
    return Jsonb(document, dumps=msgspec.json.encode)


def _write_in_one_statement(owner, site: Site | None, rows: list[Row]) -> dict:
    params = {
        "items": _json([row.document for row in rows]),
        "owner_id": owner.pk,
        "site_id": site.pk if site is not None else None,
    }
    with connection.cursor() as cursor:
        cursor.execute(_statements().for_owner, params)
        return {public_id: created for public_id, _, created in cursor}


def _write_with_the_orm(owner, site: Site | None, rows: list[Row]) -> dict:
    """`_write_in_one_statement` on any database: a statement per table, one upsert per
    rollup."""
    playbooks = Workflow.objects.for_user(owner).filter(
        public_id__in={row.item["workflow_id"] for row in rows}
    )
    if site is not None:
        playbooks = playbooks.filter(site=site)
    with transaction.atomic():
        pk_of = dict(playbooks.values_list("public_id", "pk"))
        found = [row for row in rows if row.item["workflow_id"] in pk_of]
        taken = set(
            Execution.objects.for_user(owner)
            .filter(client_execution_id__in={row.columns["client_execution_id"] for row in found})
            .values_list("client_execution_id", flat=True)
        )
        exposed = _expose_with_the_orm(owner, pk_of, found)
        written = {}
        for row in found:
            if row.item.get("held_out"):
                key = (pk_of[row.item["workflow_id"]], row.item["visitor_id"])
                written[row.columns["public_id"]] = key in exposed
                continue
            client_id = row.columns["client_execution_id"]
            written[row.columns["public_id"]] = client_id is None or client_id not in taken
            taken.add(client_id)
        new = [
            row
            for row in found
            if written[row.columns["public_id"]] and not row.item.get("held_out")
        ]
        executions = [
            Execution(workflow_id=pk_of[row.item["workflow_id"]], owner=owner, **row.columns)
            for row in new
        ]
        Execution.objects.bulk_create(executions)
        AnalyticsEvent.objects.bulk_create(
            AnalyticsEvent(
                workflow_id=execution.workflow_id,
                execution=execution,
                **{
                    name: getattr(execution, source)
                    for name, source in EVENT_FROM_EXECUTION.items()
                },
                **event_columns(action),
            )
            for execution, row in zip(executions, new, strict=True)
            for action in row.item.get("actions", ())
        )
        _count_runs(executions, exposed)
        _count_in_rollups(
            owner,
            [
                (execution.workflow_id, row.columns)
                for execution, row in zip(executions, new, strict=True)
            ],
        )
    return written


def _expose_with_the_orm(owner, pk_of: dict, rows: list[Row]) -> dict[tuple[int, str], bool]:
    """Record the exposures `rows` make (the first group seen is kept), and credit each new
    one with the goals its visitor reached after it. Answers the new exposures: (playbook
    primary key, visitor) -> held out."""
    wanted: dict[tuple[int, str], Row] = {}
    for row in rows:
        if row.item.get("visitor_id"):
            wanted.setdefault((pk_of[row.item["workflow_id"]], row.item["visitor_id"]), row)
    if not wanted:
        return {}
    known = set(
        Exposure.objects.filter(
            workflow_id__in={pk for pk, _ in wanted}, visitor_id__in={v for _, v in wanted}
        ).values_list("workflow_id", "visitor_id")
    )
    new = [
        Exposure(
            workflow_id=pk,
            owner=owner,
            visitor_id=visitor,
            held_out=bool(row.item.get("held_out")),
            exposed_at=row.columns["executed_at"],
        )
        for (pk, visitor), row in sorted(wanted.items())
        if (pk, visitor) not in known
    ]
    Exposure.objects.bulk_create(new)
    site_of = dict(
        Workflow.objects.filter(pk__in={e.workflow_id for e in new}).values_list("pk", "site_id")
    )
    for exposure in new:
        reached = Conversion.objects.filter(
            owner=owner,
            visitor_id=exposure.visitor_id,
            converted_at__gte=exposure.exposed_at,
            goal__site_id=site_of[exposure.workflow_id],
        ).values_list("goal_id", flat=True)
        credit_with_the_orm(owner, exposure, set(reached))
    return {(e.workflow_id, e.visitor_id): e.held_out for e in new}


def credit_with_the_orm(owner, exposure: Exposure, goal_pks: set[int]) -> None:
    """Count `exposure`'s visitor once among the converters of each goal (that it was not
    counted for already) in the playbook's exposed or held-out group."""
    counted = set(
        Attribution.objects.filter(
            workflow_id=exposure.workflow_id, visitor_id=exposure.visitor_id, goal_id__in=goal_pks
        ).values_list("goal_id", flat=True)
    )
    for goal_pk in sorted(goal_pks - counted):
        Attribution.objects.create(
            workflow_id=exposure.workflow_id,
            goal_id=goal_pk,
            visitor_id=exposure.visitor_id,
            held_out=exposure.held_out,
        )
        tally, _ = LiftTally.objects.get_or_create(
            workflow_id=exposure.workflow_id,
            goal_id=goal_pk,
            held_out=exposure.held_out,
            defaults={"owner": owner},
        )
        LiftTally.objects.filter(pk=tally.pk).update(converters=F("converters") + 1)


def _count_runs(executions: list[Execution], exposed: dict[tuple[int, str], bool]) -> None:
    """One UPDATE for every playbook's counters and last run, after locking their rows in
    primary key order, so that two batches never wait for each other's rows."""
    runs: dict[int, list[datetime]] = defaultdict(list)
    visitors: dict[int, list[bool]] = defaultdict(list)
    for execution in executions:
        runs[execution.workflow_id].append(execution.executed_at)
    for (pk, _), held_out in exposed.items():
        visitors[pk].append(held_out)
    pks = sorted(runs.keys() | visitors.keys())
    if not pks:
        return
    playbooks = Workflow.objects.filter(pk__in=pks)
    if len(pks) > 1:
        list(playbooks.order_by("pk").select_for_update().values_list("pk", flat=True))

    def per_playbook(value_of) -> Case:
        return Case(*(When(pk=pk, then=Value(value_of(pk))) for pk in pks))

    latest = Case(
        *(When(pk=pk, then=Value(max(runs[pk]))) for pk in pks if runs[pk]), default=F("last_run")
    )
    playbooks.update(
        executions=F("executions") + per_playbook(lambda pk: len(runs[pk])),
        # A late delivery never moves last_run backwards.
        last_run=Greatest(Coalesce("last_run", latest), latest),
        exposed_visitors=F("exposed_visitors") + per_playbook(lambda pk: visitors[pk].count(False)),
        held_out_visitors=F("held_out_visitors")
        + per_playbook(lambda pk: visitors[pk].count(True)),
    )


def count_not_counted(*, owner, reason: str, executions: int = 0, conversions: int = 0) -> None:
    """Add to today's (UTC) tally of what `reason` (a bot's name) posted and was not counted."""
    table = NotCounted._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (owner_id, day, reason, executions, conversions)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (owner_id, day, reason) DO UPDATE"
            f" SET executions = {table}.executions + excluded.executions,"
            f" conversions = {table}.conversions + excluded.conversions",
            [
                owner.pk,
                connection.ops.adapt_datefield_value(timezone.now().astimezone(UTC).date()),
                reason,
                executions,
                conversions,
            ],
        )


def _rollup_upsert(model: type[HourlyStat | DailyStat], bucket: str) -> str:
    """INSERT `{rows}` into a rollup, adding to the rows already there (the ORM's upsert can
    only overwrite)."""
    table = model._meta.db_table
    additions = ", ".join(f"{name} = r.{name} + excluded.{name}" for name in ROLLUP_SUMS)
    return (
        f"INSERT INTO {table} AS r (workflow_id, owner_id, {bucket}, {', '.join(ROLLUP_SUMS)})"
        f" {{rows}} ON CONFLICT (workflow_id, {bucket}) DO UPDATE SET {additions}"
    )


HOURLY_UPSERT = _rollup_upsert(HourlyStat, "hour")
DAILY_UPSERT = _rollup_upsert(DailyStat, "day")


def _count_in_rollups(owner, written: list[tuple[int, Mapping[str, Any]]]) -> None:
    """One upsert per rollup for the hours, and days, of the executions written (each with
    its playbook's primary key)."""
    if not written:
        return
    rollups = [(workflow_pk, rollup_columns(columns)) for workflow_pk, columns in written]
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
        for (workflow_pk, bucket_value), row in sorted(sums.items()):
            params += [workflow_pk, owner.pk, adapt(bucket_value), *row]
        placeholders = ", ".join(
            ["(" + ", ".join(["%s"] * (3 + len(ROLLUP_SUMS))) + ")"] * len(sums)
        )
        with connection.cursor() as cursor:
            cursor.execute(upsert.format(rows=f"VALUES {placeholders}"), params)


def _short(db_type: str) -> str:
    """A column's type as the statements cast their parameters to it, in few characters: the
    statements stay short enough for psycopg to cache how it reads them (4,096 characters)."""
    if db_type.startswith("varchar"):
        return "text"
    return {"timestamp with time zone": "timestamptz"}.get(db_type, db_type)


@dataclass(frozen=True)
class Statements:
    for_site_key: str
    for_owner: str


@functools.cache
def _statements() -> Statements:
    """The two statements, their columns written from the models (PostgreSQL).

    Both take the same steps in the same order, so that they take locks alike: execution rows
    first (an execution id recorded before is left out, also when a concurrent request is
    recording it: it waits on the unique index and writes nothing), their events, the
    counters, the hourly and daily rollups.

    A site key's single execution comes as typed parameters: planned for one row, the
    statement looks its key, site and playbook up by their unique indexes, and answers its
    owner and whether it was written, or nothing when the key, the origin or the playbook is
    not in order. An owner's executions come as a JSON document (`Row.document`), each read by
    its table's own row type; their playbooks' counters are locked in primary key order, and
    the statement answers each execution whose playbook was found: its public id, its owner
    and whether it was written. `last_run` is the GREATEST of itself and the runs' latest: a
    late delivery never moves it backwards, and GREATEST passes over NULL (no run yet, or none
    recorded).
    """
    execution, event = Execution._meta.db_table, AnalyticsEvent._meta.db_table
    workflow = Workflow._meta.db_table
    columns = ", ".join(field.column for field in EXECUTION_FIELDS)
    event_columns_sql = ", ".join(field.column for field in EVENT_FIELDS)
    inherited = ", ".join(EVENT_FROM_EXECUTION)
    events_into = f"{event} (workflow_id, execution_id, {inherited}, {event_columns_sql})"
    execution_into = f"{execution} (workflow_id, owner_id, {columns})"
    skip_repeats = (
        "ON CONFLICT (owner_id, client_execution_id) WHERE client_execution_id IS NOT NULL"
        " DO NOTHING"
    )

    def param(field) -> str:
        return f"%({field.attname})s::{_short(field.db_type(connection))}"

    def single_rollup(upsert: str, model, bucket: str) -> str:
        sums = ", ".join(f"%({name})s" for name in ROLLUP_SUMS)
        bucket_type = _short(model._meta.get_field(bucket).db_type(connection))
        return upsert.format(
            rows=f"SELECT execution.workflow_id, execution.owner_id, %({bucket})s::{bucket_type},"
            f" {sums} FROM execution"
        )

    inherited_params = ", ".join(
        param(Execution._meta.get_field(source)) for source in EVENT_FROM_EXECUTION.values()
    )
    owner_table = Site._meta.get_field("owner").related_model._meta.db_table
    executed_at = Execution._meta.get_field("executed_at")
    exposure_table = Exposure._meta.db_table

    def expose(rows: str) -> str:
        return (
            f"INSERT INTO {exposure_table}"
            " (workflow_id, owner_id, visitor_id, held_out, exposed_at)"
            f" {rows} ON CONFLICT (workflow_id, visitor_id) DO NOTHING"
            " RETURNING *"
        )

    expose_single = expose(
        "SELECT workflow.id, workflow.owner_id, %(visitor_id)s::text, %(held_out)s::boolean,"
        f" {param(executed_at)} FROM workflow WHERE %(visitor_id)s::text IS NOT NULL"
    )
    expose_targets = expose(
        "SELECT workflow_pk, owner_pk, visitor_id, held_out, executed_at FROM target"
        " WHERE visitor_id IS NOT NULL ORDER BY workflow_pk, visitor_id, position"
    )
    # The goals the newly exposed visitors had reached after their exposure (conversions
    # delivered first): see analytics/migrations/0005_credit_functions.py.
    credit = "credit AS (SELECT analytics_credit_exposures(jsonb_agg(exposure)) FROM exposure)"
    for_site_key = f"""
    WITH workflow AS (
        SELECT workflow.id, workflow.owner_id
        FROM {workflow} workflow
        JOIN {Site._meta.db_table} site
            ON site.id = workflow.site_id AND site.owner_id = workflow.owner_id
        JOIN {owner_table} owner ON owner.id = site.owner_id AND owner.is_active
        WHERE site.site_key = %(site_key)s AND workflow.public_id = %(workflow)s::uuid
            AND (%(origin)s::text IS NULL OR EXISTS (
                SELECT FROM {SiteOrigin._meta.db_table} allowed
                WHERE allowed.site_id = site.id AND allowed.origin = %(origin)s))
    ),
    execution AS (
        INSERT INTO {execution_into}
        SELECT workflow.id, workflow.owner_id, {", ".join(map(param, EXECUTION_FIELDS))}
        FROM workflow WHERE NOT %(held_out)s::boolean {skip_repeats}
        RETURNING id, workflow_id, owner_id
    ),
    events AS (
        INSERT INTO {events_into}
        SELECT execution.workflow_id, execution.id, {inherited_params}, {event_columns_sql}
        FROM execution, jsonb_populate_recordset(NULL::{event}, %(actions)s) AS event
    ),
    exposure AS ({expose_single}),
    touched AS (SELECT workflow_id FROM execution UNION SELECT workflow_id FROM exposure),
    counter AS (
        UPDATE {workflow} w
        SET executions = w.executions + (SELECT count(*) FROM execution),
            last_run = GREATEST(w.last_run, (SELECT {param(executed_at)} FROM execution)),
            exposed_visitors = w.exposed_visitors
                + (SELECT count(*) FROM exposure WHERE NOT held_out),
            held_out_visitors = w.held_out_visitors
                + (SELECT count(*) FROM exposure WHERE held_out)
        FROM touched WHERE w.id = touched.workflow_id
    ),
    hourly AS ({single_rollup(HOURLY_UPSERT, HourlyStat, "hour")}),
    daily AS ({single_rollup(DAILY_UPSERT, DailyStat, "day")}),
    {credit}
    SELECT workflow.owner_id,
        EXISTS (SELECT FROM execution) OR (%(held_out)s AND EXISTS (SELECT FROM exposure))
    FROM workflow, credit
    """

    sums = ", ".join(f"sum(rollup.{name})" for name in ROLLUP_SUMS)

    def rollup(upsert: str, model, bucket: str) -> str:
        return upsert.format(
            rows=f"SELECT recorded.workflow_pk, recorded.owner_pk, rollup.{bucket}, {sums}"
            f" FROM recorded, jsonb_populate_record(NULL::{model._meta.db_table}, recorded.item)"
            f" AS rollup GROUP BY 1, 2, 3 ORDER BY 1, 3"
        )

    from_execution = ", ".join(f"recorded.{source}" for source in EVENT_FROM_EXECUTION.values())
    for_owner = f"""
    WITH target AS (
        SELECT workflow.id AS workflow_pk, workflow.owner_id AS owner_pk,
            {", ".join(f"execution.{field.column}" for field in EXECUTION_FIELDS)}, item.item,
            item.item ->> 'visitor_id' AS visitor_id,
            (item.item ->> 'held_out')::boolean AS held_out, item.position
        FROM jsonb_array_elements(%(items)s::jsonb) WITH ORDINALITY AS item (item, position)
        CROSS JOIN jsonb_populate_record(NULL::{execution}, item.item) execution
        JOIN {workflow} workflow ON workflow.public_id = (item.item ->> 'workflow')::uuid
        WHERE workflow.owner_id = %(owner_id)s
            AND (%(site_id)s::bigint IS NULL OR workflow.site_id = %(site_id)s)
        ORDER BY item.position
    ),
    execution AS (
        INSERT INTO {execution_into}
        SELECT workflow_pk, owner_pk, {columns} FROM target WHERE NOT held_out {skip_repeats}
        RETURNING id, public_id
    ),
    exposure AS ({expose_targets}),
    recorded AS (
        SELECT target.*, execution.id AS execution_pk
        FROM target JOIN execution ON execution.public_id = target.public_id
    ),
    events AS (
        INSERT INTO {events_into}
        SELECT recorded.workflow_pk, recorded.execution_pk, {from_execution}, {event_columns_sql}
        FROM recorded,
            jsonb_populate_recordset(NULL::{event}, recorded.item -> 'actions') AS event
    ),
    runs AS (
        SELECT workflow_pk, count(*) AS n, max(executed_at) AS latest
        FROM recorded GROUP BY workflow_pk
    ),
    visitors AS (
        SELECT workflow_id, count(*) FILTER (WHERE NOT held_out) AS exposed,
            count(*) FILTER (WHERE held_out) AS held_out
        FROM exposure GROUP BY workflow_id
    ),
    tally AS (
        SELECT COALESCE(runs.workflow_pk, visitors.workflow_id) AS workflow_pk,
            COALESCE(runs.n, 0) AS n, runs.latest,
            COALESCE(visitors.exposed, 0) AS exposed, COALESCE(visitors.held_out, 0) AS held_out
        FROM runs FULL JOIN visitors ON visitors.workflow_id = runs.workflow_pk
    ),
    locked AS (
        SELECT id FROM {workflow}
        WHERE id IN (SELECT workflow_pk FROM tally) ORDER BY id FOR UPDATE
    ),
    counter AS (
        UPDATE {workflow} workflow
        SET executions = workflow.executions + tally.n,
            last_run = GREATEST(workflow.last_run, tally.latest),
            exposed_visitors = workflow.exposed_visitors + tally.exposed,
            held_out_visitors = workflow.held_out_visitors + tally.held_out
        FROM tally WHERE workflow.id = tally.workflow_pk AND workflow.id IN (SELECT id FROM locked)
    ),
    hourly AS ({rollup(HOURLY_UPSERT, HourlyStat, "hour")}),
    daily AS ({rollup(DAILY_UPSERT, DailyStat, "day")}),
    {credit}
    SELECT target.public_id, target.owner_pk, CASE WHEN target.held_out
        THEN EXISTS (SELECT FROM exposure WHERE exposure.workflow_id = target.workflow_pk
            AND exposure.visitor_id = target.visitor_id)
        ELSE execution.id IS NOT NULL END
    FROM target CROSS JOIN credit
    LEFT JOIN execution ON execution.public_id = target.public_id
    """
    # One line: psycopg keeps a statement's parsing only when its text is short enough.
    return Statements(
        for_site_key=" ".join(for_site_key.split()), for_owner=" ".join(for_owner.split())
    )
