"""The write path: recording one playbook execution."""

import uuid
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


def record_execution(
    *,
    owner,
    site: Site | None,
    workflow_id: uuid.UUID,
    status: str,
    execution_time_ms: int,
    page_url: str = "",
    session_id: str = "",
    device_type: str = "",
    trigger_name: str = "",
    client_user_id: str = "",
    client_execution_id: str | None = None,
    started_at: datetime | None = None,
    actions: Sequence[Mapping[str, Any]] = (),
) -> RecordedExecution:
    """Count one execution of `owner`'s workflow: counter, last run, the row and its events.

    With a `client_execution_id` already recorded for this owner nothing changes and the
    first recording is returned (`created=False`), also when both arrive at once.
    """
    workflows = Workflow.objects.for_user(owner).filter(public_id=workflow_id)
    if site is not None:
        workflows = workflows.filter(site=site)
    workflow_pk = workflows.values_list("pk", flat=True).first()
    if workflow_pk is None:
        raise WorkflowNotFound(workflow_id)

    now = timezone.now()
    # A queued execution is dated when it ran; a clock slightly ahead is brought back to now.
    executed_at = min(started_at, now) if started_at else now
    try:
        with transaction.atomic():
            # The row goes first: a concurrent duplicate waits on the unique index here and
            # fails before touching the counter.
            execution = Execution.objects.create(
                workflow_id=workflow_pk,
                owner=owner,
                status=status,
                execution_time_ms=execution_time_ms,
                page_url=page_url,
                session_id=session_id,
                device_type=device_type,
                trigger_name=trigger_name,
                client_user_id=client_user_id,
                client_execution_id=client_execution_id,
                executed_at=executed_at,
                received_at=now,
            )
            Workflow.objects.filter(pk=workflow_pk).update(
                executions=F("executions") + 1,
                # A late delivery never moves last_run backwards.
                last_run=Greatest(Coalesce("last_run", Value(executed_at)), Value(executed_at)),
            )
            AnalyticsEvent.objects.bulk_create(
                _event(action, execution=execution, workflow_pk=workflow_pk) for action in actions
            )
            _count_in_hourly_stats(execution)
    except IntegrityError:
        if client_execution_id is None:
            raise
        first = Execution.objects.filter(owner=owner, client_execution_id=client_execution_id)
        first_public_id = first.values_list("public_id", flat=True).first()
        if first_public_id is None:
            raise
        return RecordedExecution(execution_id=f"exec-{first_public_id.hex}", created=False)
    return RecordedExecution(execution_id=execution.execution_id, created=True)


def _event(action: Mapping[str, Any], *, execution: Execution, workflow_pk: int) -> AnalyticsEvent:
    error = action.get("error") or ""
    return AnalyticsEvent(
        workflow_id=workflow_pk,
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
HOURLY_UPSERT = f"""
    INSERT INTO {HOURLY_TABLE} (workflow_id, owner_id, hour, executions, errors, timeouts,
                         desktop, mobile, tablet, total_time_ms)
    VALUES (%s, %s, %s, 1, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (workflow_id, hour) DO UPDATE SET
        executions = {HOURLY_TABLE}.executions + 1,
        errors = {HOURLY_TABLE}.errors + excluded.errors,
        timeouts = {HOURLY_TABLE}.timeouts + excluded.timeouts,
        desktop = {HOURLY_TABLE}.desktop + excluded.desktop,
        mobile = {HOURLY_TABLE}.mobile + excluded.mobile,
        tablet = {HOURLY_TABLE}.tablet + excluded.tablet,
        total_time_ms = {HOURLY_TABLE}.total_time_ms + excluded.total_time_ms
"""


def _count_in_hourly_stats(execution: Execution) -> None:
    # An increment on conflict: the ORM's upsert can only overwrite values.
    hour = execution.executed_at.replace(minute=0, second=0, microsecond=0)
    device = execution.device_type
    with connection.cursor() as cursor:
        cursor.execute(
            HOURLY_UPSERT,
            [
                execution.workflow_id,
                execution.owner_id,
                connection.ops.adapt_datetimefield_value(hour),
                int(execution.status == Execution.Status.ERROR),
                int(execution.status == Execution.Status.TIMEOUT),
                int(device == "desktop"),
                int(device == "mobile"),
                int(device == "tablet"),
                execution.execution_time_ms,
            ],
        )
