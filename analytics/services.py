"""The write path: recording one playbook execution."""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from analytics.models import AnalyticsEvent, Execution, HourlyStat
from workflows.models import Site, Workflow


class WorkflowNotFound(Exception):
    """The workflow does not exist, or is not the caller's to record."""


@dataclass(frozen=True)
class RecordedExecution:
    execution_id: str
    created: bool


def record_execution(*, owner, site: Site | None, **fields: Any) -> RecordedExecution:
    """Count one execution of `owner`'s workflow (see `record_executions`)."""
    (recorded,) = record_executions(owner=owner, site=site, items=[fields])
    if recorded is None:
        raise WorkflowNotFound(fields["workflow_id"])
    return recorded


def record_executions(
    *, owner, site: Site | None, items: Sequence[Mapping[str, Any]]
) -> list[RecordedExecution | None]:
    """Record executions of `owner`'s workflows: rows, events, counters, last run, rollup.

    Each item holds `workflow_id`, `status`, `execution_time_ms` and optionally `page_url`,
    `session_id`, `device_type`, `trigger_name`, `client_user_id`, `client_execution_id`,
    `started_at` and `actions`. Answers per item, in order: the recording, or None when the
    workflow is not the owner's (or not on `site`). All go in one transaction with one
    statement per table and one counter update per workflow. An item whose
    `client_execution_id` this owner already recorded changes nothing and answers the first
    recording (`created=False`), also when both arrive at once.
    """
    workflows = Workflow.objects.for_user(owner).filter(
        public_id__in={item["workflow_id"] for item in items}
    )
    if site is not None:
        workflows = workflows.filter(site=site)
    pk_of = dict(workflows.values_list("public_id", "pk"))
    now = timezone.now()
    known = [(index, item) for index, item in enumerate(items) if item["workflow_id"] in pk_of]
    results: list[RecordedExecution | None] = [None] * len(items)
    try:
        written = _write(owner, [(pk_of[item["workflow_id"]], item) for _, item in known], now)
    except IntegrityError:
        # An execution id was recorded before, or twice in this batch: one at a time.
        written = [_write_once(owner, pk_of[item["workflow_id"]], item, now) for _, item in known]
    for (index, _), recorded in zip(known, written, strict=True):
        results[index] = recorded
    return results


def _write_once(owner, workflow_pk: int, item: Mapping[str, Any], now) -> RecordedExecution:
    try:
        return _write(owner, [(workflow_pk, item)], now)[0]
    except IntegrityError:
        client_id = item.get("client_execution_id")
        first = Execution.objects.filter(owner=owner, client_execution_id=client_id)
        first_public_id = first.values_list("public_id", flat=True).first() if client_id else None
        if first_public_id is None:
            raise
        return RecordedExecution(execution_id=f"exec-{first_public_id.hex}", created=False)


def _write(owner, rows: list[tuple[int, Mapping[str, Any]]], now) -> list[RecordedExecution]:
    executions = [_execution(owner, workflow_pk, item, now) for workflow_pk, item in rows]
    if not executions:
        return []
    runs: dict[int, list[datetime]] = defaultdict(list)
    for execution in executions:
        runs[execution.workflow_id].append(execution.executed_at)
    with transaction.atomic():
        # Rows first: a concurrent duplicate execution id waits on the unique index here and
        # fails before any counter moves.
        Execution.objects.bulk_create(executions)
        AnalyticsEvent.objects.bulk_create(
            _event(action, execution=execution)
            for execution, (_, item) in zip(executions, rows, strict=True)
            for action in item.get("actions", ())
        )
        # In primary key order, so that two batches never wait for each other's rows.
        for workflow_pk, moments in sorted(runs.items()):
            latest = max(moments)
            Workflow.objects.filter(pk=workflow_pk).update(
                executions=F("executions") + len(moments),
                # A late delivery never moves last_run backwards.
                last_run=Greatest(Coalesce("last_run", Value(latest)), Value(latest)),
            )
        _count_in_hourly_stats(executions)
    return [RecordedExecution(execution.execution_id, created=True) for execution in executions]


def _execution(owner, workflow_pk: int, item: Mapping[str, Any], now) -> Execution:
    started_at = item.get("started_at")
    return Execution(
        workflow_id=workflow_pk,
        owner=owner,
        status=item["status"],
        execution_time_ms=item["execution_time_ms"],
        page_url=item.get("page_url", ""),
        session_id=item.get("session_id", ""),
        device_type=item.get("device_type", ""),
        trigger_name=item.get("trigger_name", ""),
        client_user_id=item.get("client_user_id", ""),
        client_execution_id=item.get("client_execution_id"),
        # A queued execution is dated when it ran; a clock slightly ahead is brought back.
        executed_at=min(started_at, now) if started_at else now,
        received_at=now,
    )


def _event(action: Mapping[str, Any], *, execution: Execution) -> AnalyticsEvent:
    error = action.get("error") or ""
    return AnalyticsEvent(
        workflow_id=execution.workflow_id,
        execution=execution,
        event_type=(
            AnalyticsEvent.EventType.ACTION_FAILED
            if error
            else AnalyticsEvent.EventType.ACTION_EXECUTED
        ),
        element_selector=action.get("selector", ""),
        page_url=execution.page_url,
        event_data={
            "name": action["name"],
            "config": action.get("config", {}),
            "executionTimeMs": action.get("execution_time_ms"),
            "error": error,
        },
        created_at=execution.executed_at,
    )


HOURLY_TABLE = HourlyStat._meta.db_table
HOURLY_COLUMNS = (
    "workflow_id, owner_id, hour, executions, errors, timeouts, desktop, mobile, tablet,"
    " total_time_ms"
)
HOURLY_UPSERT = f"""
    INSERT INTO {HOURLY_TABLE} ({HOURLY_COLUMNS}) VALUES {{rows}}
    ON CONFLICT (workflow_id, hour) DO UPDATE SET
        executions = {HOURLY_TABLE}.executions + excluded.executions,
        errors = {HOURLY_TABLE}.errors + excluded.errors,
        timeouts = {HOURLY_TABLE}.timeouts + excluded.timeouts,
        desktop = {HOURLY_TABLE}.desktop + excluded.desktop,
        mobile = {HOURLY_TABLE}.mobile + excluded.mobile,
        tablet = {HOURLY_TABLE}.tablet + excluded.tablet,
        total_time_ms = {HOURLY_TABLE}.total_time_ms + excluded.total_time_ms
"""


def _count_in_hourly_stats(executions: list[Execution]) -> None:
    """One upsert for all the executions' hours. An increment on conflict: the ORM's upsert
    can only overwrite values."""
    sums: dict[tuple[int, datetime], list[int]] = defaultdict(lambda: [0] * 7)
    for execution in executions:
        hour = execution.executed_at.replace(minute=0, second=0, microsecond=0)
        row = sums[(execution.workflow_id, hour)]
        for position, value in enumerate(
            (
                1,
                execution.status == Execution.Status.ERROR,
                execution.status == Execution.Status.TIMEOUT,
                execution.device_type == "desktop",
                execution.device_type == "mobile",
                execution.device_type == "tablet",
                execution.execution_time_ms,
            )
        ):
            row[position] += int(value)
    owner_id = executions[0].owner_id
    params: list[Any] = []
    for (workflow_pk, hour), row in sorted(sums.items()):
        params += [workflow_pk, owner_id, connection.ops.adapt_datetimefield_value(hour), *row]
    placeholders = ", ".join(["(" + ", ".join(["%s"] * 10) + ")"] * len(sums))
    with connection.cursor() as cursor:
        cursor.execute(HOURLY_UPSERT.format(rows=placeholders), params)
