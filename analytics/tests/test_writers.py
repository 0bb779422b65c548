"""Every writer stores the same rows for the same executions (and conversions): the statement
for a site key's single execution, the statement for an owner's executions, and the ORM (other
databases). Every column of every table they write is compared, the columns read from the
models."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import conversions, services
from analytics.api import CONVERSION, validated_execution
from analytics.models import (
    AnalyticsEvent,
    Attribution,
    Conversion,
    DailyStat,
    Execution,
    Exposure,
    GoalDailyStat,
    HourlyStat,
    LiftTally,
)
from workflows.models import Goal, Site, Workflow

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOW = datetime(2026, 11, 30, 23, 40, 12, 345678, tzinfo=UTC)
# Four playbooks to post for: two on the posting site, one of the owner's on another site,
# and a stranger's.
PLAYBOOKS = range(4)

texts = st.sampled_from(["", "x", "Spring sale", "é😀", "t" * 128])
actions = st.fixed_dictionaries(
    {"name": st.sampled_from(["Replace Text", "Hide", "Add Class"])},
    optional={
        "selector": st.sampled_from(["", ".hero h1", "#cta"]),
        "executionTimeMs": st.none() | st.integers(0, 3_600_000),
        "config": st.sampled_from([{}, {"text": "Hi"}, {"nested": [1, {"deep": None}]}]),
        "error": st.sampled_from(["", "Element not found: #cta"]),
    },
)
records = st.fixed_dictionaries(
    {
        "playbook": st.sampled_from(PLAYBOOKS),
        "status": st.sampled_from(["success", "error", "timeout"]),
        "executionTimeMs": st.integers(0, 3_600_000),
    },
    optional={
        "userId": texts,
        "pageUrl": st.sampled_from(["", "https://shop.example/", "http://shop.example/a?b=c"]),
        "sessionId": texts,
        "deviceType": st.sampled_from(["", "desktop", "mobile", "tablet"]),
        "triggerName": texts,
        # Few ids, so that some repeat: a repeat is recorded once.
        "executionId": st.sampled_from(["run-1", "run-2", "run-3"]),
        # Up to a week late, or a minute ahead (brought back to now); across hours and days.
        "startedAt": st.integers(-60, 7 * 24 * 3600).map(
            lambda late: (NOW - timedelta(seconds=late)).isoformat()
        ),
        "actions": st.lists(actions, max_size=3),
        # Few visitors, so that exposures repeat; some held out (then without actions).
        "visitorId": st.sampled_from(["v-1", "v-2"]),
        "heldOut": st.booleans(),
    },
)


@pytest.fixture
def playbooks(alice, alice_site, charlie_workflow) -> list[Workflow]:
    other_site = Site.objects.create(owner=alice, name="Alice's other shop")
    # Goals the visitors reached before the executions arrive (some after they ran).
    for site, name in ((alice_site, "Signed up"), (other_site, "Read")):
        goal = Goal.objects.create(owner=alice, site=site, name=name, kind="call", event="x")
        for visitor, late in (("v-1", 0), ("v-2", 3 * 24 * 3600)):
            moment = NOW - timedelta(seconds=late)
            Conversion.objects.create(
                goal=goal, owner=alice, visitor_id=visitor, day=moment.date(),
                converted_at=moment, received_at=NOW,
            )  # fmt: skip
    return [
        Workflow.objects.create(owner=alice, site=alice_site, name="Hero"),
        Workflow.objects.create(owner=alice, site=alice_site, name="CTA"),
        Workflow.objects.create(owner=alice, site=other_site, name="Elsewhere"),
        charlie_workflow,
    ]


def by_site_key(site, items):
    key = site.site_key
    return [services.record_for_site_key(site_key=key, origin=None, fields=i) for i in items]


def by_owner_statement(site, items):
    return services.record_executions(owner=site.owner, site=site, items=items)


def by_the_orm(site, items):
    rows = [services.Row(item, services.execution_columns(item, NOW)) for item in items]
    written = services._write_with_the_orm(site.owner, site, rows)
    return services._outcomes(site.owner.pk, rows, written)


WRITERS = [by_site_key, by_owner_statement, by_the_orm]


def columns(model, leave_out: tuple[str, ...] = ()) -> list[str]:
    return [
        field.attname
        for field in model._meta.concrete_fields
        if field.attname not in leave_out and not (field.primary_key and model is not Workflow)
    ]


def stored() -> dict[str, list]:
    """Every row of every table the write path touches, every column, as comparable values:
    executions without their random public id, events under their execution's columns."""
    execution_columns = columns(Execution, leave_out=("public_id",))
    executions = {
        row[0]: row[1:] for row in Execution.objects.values_list("pk", *execution_columns)
    }
    events = [
        (executions[row[0]], *row[1:])
        for row in AnalyticsEvent.objects.values_list(
            "execution_id", *columns(AnalyticsEvent, leave_out=("execution_id",))
        )
    ]
    tables = {
        "executions": list(executions.values()),
        "events": events,
        **{
            model.__name__: list(model.objects.values_list(*columns(model)))
            for model in (
                Workflow,
                HourlyStat,
                DailyStat,
                Exposure,
                Attribution,
                LiftTally,
                Conversion,
                GoalDailyStat,
            )
        },
    }
    return {name: sorted(rows, key=repr) for name, rows in tables.items()}


def record_and_read(writer, site, items) -> tuple[list, dict]:
    """What `writer` answers and stores for `items`, then undone."""
    with transaction.atomic():
        answers = writer(site, items)
        public_ids = set(Execution.objects.values_list("public_id", flat=True))
        for answer in answers:  # each answer names an execution that is stored
            assert (
                answer is None
                or answer.execution_id is None
                or answer.execution_id.removeprefix("exec-")
                in {public_id.hex for public_id in public_ids}
            )
        outcome = [None if answer is None else answer.created for answer in answers], stored()
        transaction.set_rollback(True)
    return outcome


# Each writer's work is undone, so the playbooks are the same for every example.
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(records, min_size=1, max_size=6))
def test_every_writer_stores_the_same_rows(playbooks, alice_site, generated):
    items = []
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        for record in generated:
            body = {k: v for k, v in record.items() if k != "playbook"}
            body["workflowId"] = str(playbooks[record["playbook"]].public_id)
            if body.get("heldOut"):
                body = {**body, "actions": [], "visitorId": body.get("visitorId", "v-3")}
            items.append(validated_execution(body))
        before = stored()
        outcomes = [record_and_read(writer, alice_site, items) for writer in WRITERS]

    answers, tables = zip(*outcomes, strict=True)
    assert answers[0] == answers[1] == answers[2]
    assert tables[0] == tables[1] == tables[2]
    # Something was written whenever an execution was recorded.
    recorded = sum(
        created is True and not item.get("held_out")
        for created, item in zip(answers[0], items, strict=True)
    )
    assert len(tables[0]["executions"]) - len(before["executions"]) == recorded


def test_a_new_field_of_the_model_reaches_every_statement():
    # The statements' columns come from the model: each writes every field an execution has.
    statements = services._statements()
    for field in services.EXECUTION_FIELDS:
        assert field.column in statements.for_site_key
        assert field.column in statements.for_owner
    assert {field.name for field in services.EXECUTION_FIELDS} == {
        field.name
        for field in Execution._meta.concrete_fields
        if field.name not in ("id", "workflow", "owner")
    }


conversion_records = st.fixed_dictionaries(
    {"goal": st.sampled_from(range(3)), "visitorId": st.sampled_from(["v-1", "v-2", "v-3"])},
    optional={
        "conversionId": st.sampled_from(["c-1", "c-2"]),
        "pageUrl": st.sampled_from(["", "https://shop.example/thanks"]),
        # Before or after the visitors' exposures, across days.
        "occurredAt": st.integers(-60, 5 * 24 * 3600).map(
            lambda late: (NOW - timedelta(seconds=late)).isoformat()
        ),
    },
)


def conversions_in_one_statement(site, items):
    return conversions.record_conversions(site_key=site.site_key, origin=None, items=items)


def conversions_with_the_orm(site, items):
    rows = [conversions.conversion_columns(item, NOW) for item in items]
    found = conversions._write_with_the_orm(site.site_key, None, items, rows)
    return [found.get(position) for position in range(len(items))]


@pytest.fixture
def exposed(alice, alice_site, playbooks) -> list[Goal]:
    """Visitors exposed to (or held out of) Alice's playbooks two days ago, and goals: two on
    the posting site, one elsewhere."""
    for playbook, visitor, held_out in (
        (playbooks[0], "v-1", False),
        (playbooks[0], "v-2", True),
        (playbooks[1], "v-1", True),
        (playbooks[2], "v-1", False),
    ):
        Exposure.objects.create(
            workflow=playbook, owner=alice, visitor_id=visitor, held_out=held_out,
            exposed_at=NOW - timedelta(days=2),
        )  # fmt: skip
    signed_up, read = Goal.objects.get(site=alice_site), Goal.objects.exclude(site=alice_site).get()
    buy = Goal.objects.create(owner=alice, site=alice_site, name="Buy", kind="call", event="buy")
    return [buy, signed_up, read]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(conversion_records, min_size=1, max_size=6))
def test_both_conversion_writers_store_the_same_rows(exposed, alice_site, generated):
    items = []
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        for record in generated:
            body = {k: v for k, v in record.items() if k != "goal"}
            items.append(
                CONVERSION.run_validation(
                    {**body, "goalId": str(exposed[record["goal"]].public_id)}
                )
            )

        def answers_and_rows(writer):
            with transaction.atomic():
                answers = writer(alice_site, items)
                outcome = (
                    [None if a is None else getattr(a, "created", a) for a in answers],
                    stored(),
                )
                transaction.set_rollback(True)
            return outcome

        statement, orm = (
            answers_and_rows(conversions_in_one_statement),
            answers_and_rows(conversions_with_the_orm),
        )

    assert statement == orm
