"""A site script's single execution is recorded in one statement; what it stores must be
exactly what the general path stores, and anything unusual must still get the exact answer."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.utils import timezone
from rest_framework.authtoken.models import Token

from analytics.models import ROLLUP_SUMS, AnalyticsEvent, DailyStat, Execution, HourlyStat
from analytics.ratelimits import parse_rate
from analytics.services import STATEMENT_CURSORS
from analytics.tests.helpers import execution_body, post_execution
from workflows.models import Workflow

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_window")]


@pytest.mark.postgres
@pytest.mark.parametrize("origin", [{}, {"HTTP_ORIGIN": "https://shop.example"}])
def test_a_site_script_post_is_one_database_statement(
    client, alice_workflow, django_assert_num_queries, origin
):
    with django_assert_num_queries(1):
        response = post_execution(
            client, execution_body(alice_workflow), site=alice_workflow.site, **origin
        )

    assert response.status_code == 201
    assert response.get("Access-Control-Allow-Origin") == origin.get("HTTP_ORIGIN")
    assert response.json()["executionId"] == Execution.objects.get().execution_id
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_statement_cursor_serves_every_post_and_follows_a_new_connection(
    client, alice_workflow
):
    def post():
        return post_execution(client, execution_body(alice_workflow), site=alice_workflow.site)

    first = post()
    cursor = STATEMENT_CURSORS[connections["default"]]
    second = post()
    assert STATEMENT_CURSORS[connections["default"]] is cursor
    connection.close()
    third = post()

    replaced = STATEMENT_CURSORS[connections["default"]]
    assert [first.status_code, second.status_code, third.status_code] == [201, 201, 201]
    assert replaced is not cursor
    assert replaced.connection is connection.connection
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == Execution.objects.count() == 3


def _stored(execution: Execution) -> dict:
    events = [
        (event.event_type, event.element_selector, event.page_url, event.event_data)
        for event in execution.events.order_by("pk")
    ]
    fields = (
        "status", "execution_time_ms", "page_url", "session_id", "device_type", "trigger_name",
        "client_user_id", "executed_at",
    )  # fmt: skip
    return {"events": events, **{name: getattr(execution, name) for name in fields}}


@pytest.mark.postgres
def test_it_stores_exactly_what_the_general_path_stores(client, alice, alice_workflow):
    started = (timezone.now() - timedelta(minutes=5)).replace(microsecond=0)
    actions = [
        {"name": "Replace Text", "selector": ".hero", "executionTimeMs": 12,
         "config": {"newText": "Hi", "nested": {"a": [1, 2]}}},
        {"name": "Add Class", "selector": ".cta", "error": "selector matched nothing"},
    ]  # fmt: skip
    body = execution_body(
        alice_workflow, status="error", deviceType="mobile", startedAt=started.isoformat(),
        executionTimeMs=321, actions=actions,
    )  # fmt: skip
    token = Token.objects.create(user=alice)

    one_statement = post_execution(client, {**body, "executionId": "a"}, site=alice_workflow.site)
    general = post_execution(
        client, {**body, "executionId": "b"}, HTTP_AUTHORIZATION=f"Token {token.key}"
    )

    assert one_statement.status_code == general.status_code == 201
    first, second = Execution.objects.order_by("pk")
    assert (first.client_execution_id, second.client_execution_id) == ("a", "b")
    assert _stored(first) == _stored(second)
    assert _stored(first)["executed_at"] == started
    assert [event[0] for event in _stored(first)["events"]] == [
        AnalyticsEvent.EventType.ACTION_EXECUTED,
        AnalyticsEvent.EventType.ACTION_FAILED,
    ]
    hour = HourlyStat.objects.get()
    assert (hour.executions, hour.errors, hour.timeouts) == (2, 2, 0)
    assert (hour.desktop, hour.mobile, hour.tablet, hour.total_time_ms) == (0, 2, 0, 642)
    assert hour.hour == started.replace(minute=0, second=0)
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 2
    assert alice_workflow.last_run == started


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"HTTP_ORIGIN": "https://evil.example"}, 403, "origin"),
        ({"HTTP_X_SITE_KEY": "sk_" + "x" * 40}, 401, "siteKey"),
        ({"HTTP_X_SITE_KEY": "sk_" + "x" * 80}, 401, "siteKey"),
        ({"body": {"workflowId": "00000000-0000-4000-8000-000000000000"}}, 404, "workflowId"),
        ({"body": {"executionTimeMs": -1}}, 400, "executionTimeMs"),
        ({"body": {"actions": [{"name": "x", "config": {"n": float("nan")}}]}}, 400, "body"),
    ],
)
def test_what_one_statement_cannot_record_gets_the_exact_refusal(
    client, alice_workflow, change, status, field
):
    change = dict(change)
    body = execution_body(alice_workflow, **change.pop("body", {}))

    response = post_execution(client, body, site=alice_workflow.site, **change)

    assert response.status_code == status
    assert field in response.json()["errors"]
    assert Execution.objects.count() == 0
    assert HourlyStat.objects.count() == 0
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 0


@pytest.mark.postgres
def test_a_duplicate_execution_id_is_answered_as_already_tracked(client, alice_workflow):
    body = execution_body(alice_workflow, executionId="run-1")

    first = post_execution(client, body, site=alice_workflow.site)
    again = post_execution(client, body, site=alice_workflow.site)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["executionId"] == first.json()["executionId"]
    assert Execution.objects.count() == 1
    assert HourlyStat.objects.get().executions == 1


@pytest.mark.redis
def test_both_limits_cost_one_redis_round_trip(client, alice_workflow, monkeypatch):
    from redis.connection import Connection

    sent = []
    send = Connection.send_packed_command
    monkeypatch.setattr(
        Connection,
        "send_packed_command",
        lambda self, command, *args, **kwargs: (
            sent.append(command),
            send(self, command, *args, **kwargs),
        )[1],
    )

    response = post_execution(client, execution_body(alice_workflow), site=alice_workflow.site)

    assert response.status_code == 201
    assert len(sent) == 1


def test_ipv6_clients_share_a_limit_per_64_block(client, alice_workflow, settings):
    settings.TRACKING_RATELIMIT_IP = "2/m"
    body = execution_body(alice_workflow)

    statuses = [
        post_execution(client, body, site=alice_workflow.site, REMOTE_ADDR=address).status_code
        for address in ("2001:db8:1:1::1", "2001:db8:1:1::2", "2001:db8:1:1:ffff::3")
    ]
    other_block = post_execution(client, body, site=alice_workflow.site, REMOTE_ADDR="2001:db8::1")

    assert statuses == [201, 201, 429]
    assert other_block.status_code == 201


def test_rates_read_like_django_ratelimit_and_a_bad_one_stops_the_app(settings):
    assert parse_rate("1200/m") == (1200, 60)
    assert parse_rate("10/5m") == (10, 300)
    assert parse_rate("3/h") == (3, 3600)
    with pytest.raises(ValueError):
        parse_rate("lots")

    settings.TRACKING_RATELIMIT_SITE = "100 per minute"

    with pytest.raises(ImproperlyConfigured, match="TRACKING_RATELIMIT_SITE"):
        apps.get_app_config("analytics").ready()


@pytest.mark.postgres
def test_a_batch_is_authenticated_then_recorded_in_one_statement(
    client, alice_workflow, django_assert_num_queries
):
    batch = {"executions": [execution_body(alice_workflow) for _ in range(20)]}

    # The site key, then everything else at once, the owner's playbooks looked up by the
    # statement (in a savepoint here, since the test runs inside a transaction).
    with django_assert_num_queries(2 + 2):
        response = post_execution(client, batch, site=alice_workflow.site)

    assert response.json()["recorded"] == 20
    assert AnalyticsEvent.objects.count() == 20


@pytest.mark.postgres
def test_the_orm_write_for_other_databases_stores_what_the_statement_stores(
    alice, alice_workflow, charlie_workflow
):
    from analytics import services

    other = Workflow.objects.create(owner=alice, site=alice_workflow.site, name="Other")
    now = timezone.now()
    actions = [{"name": "Hide", "selector": ".x", "execution_time_ms": 3, "error": "gone"}]
    items = [
        {"status": status, "execution_time_ms": ms, "device_type": device,
         "page_url": "https://shop.example/", "started_at": now - timedelta(days=days),
         "actions": actions}
        for status, ms, device, days in [
            ("success", 10, "mobile", 0), ("error", 20, "desktop", 0), ("timeout", 30, "", 2),
        ]
    ]  # fmt: skip

    def record(write, workflow) -> tuple:
        of_workflow = [{**item, "workflow_id": workflow.public_id} for item in items]
        write(alice, [(workflow.pk, item, services._columns(item, now)) for item in of_workflow])
        workflow.refresh_from_db()
        stored = Execution.objects.filter(workflow=workflow).order_by("executed_at", "status")
        rollups = [
            sorted(model.objects.filter(workflow=workflow).values_list(bucket, *ROLLUP_SUMS))
            for model, bucket in ((HourlyStat, "hour"), (DailyStat, "day"))
        ]
        return workflow.executions, workflow.last_run, [_stored(e) for e in stored], rollups

    def by_one_statement(owner, written):
        rows = [(item, columns) for _, item, columns in written]
        assert services._write_in_one_statement(owner, None, rows) == {
            columns["public_id"] for _, columns in rows
        }

    by_statement = record(by_one_statement, alice_workflow)
    by_orm = record(services._write_with_the_orm, other)

    assert by_statement == by_orm
    assert by_statement[0] == 3
    assert sum(row[1] for row in by_statement[3][1]) == 3  # the daily rows


def _updates() -> dict[str, tuple[int, int]]:
    """Rows updated so far in this session, and how many of them in place (HOT)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables"
            " WHERE relname IN ('workflows_workflow', 'analytics_hourlystat',"
            " 'analytics_dailystat')"
        )
        return {name: (updated, hot) for name, updated, hot in cursor.fetchall()}


@pytest.mark.postgres
@pytest.mark.parametrize("batch", [False, True])
def test_counters_and_rollups_update_in_place_without_index_writes(client, alice_workflow, batch):
    """PostgreSQL updates a row without touching its indexes (a HOT update) only when no
    indexed column changes: an index on a counter would write every index on every run."""
    noon = (timezone.now() - timedelta(days=1)).replace(hour=12, minute=0).isoformat()
    bodies = [
        execution_body(alice_workflow, executionId=f"run-{n}", startedAt=noon) for n in range(5)
    ]  # in one hour and one day, whenever the test runs
    before = _updates()
    if batch:
        responses = [post_execution(client, {"executions": bodies}, site=alice_workflow.site)]
    else:
        responses = [post_execution(client, body, site=alice_workflow.site) for body in bodies]
    after = _updates()

    assert {response.status_code for response in responses} == {200 if batch else 201}
    made = {}
    for table, (updated, hot) in after.items():
        updated_before, hot_before = before.get(table, (0, 0))
        made[table] = (updated - updated_before, hot - hot_before)
    runs = 1 if batch else 5  # a batch adds up its runs per playbook first
    assert made["workflows_workflow"] == (runs, runs)
    # The first run of an hour inserts the rollup rows; the rest update them.
    assert made.get("analytics_hourlystat", (0, 0)) == (runs - 1, runs - 1)
    assert made.get("analytics_dailystat", (0, 0)) == (runs - 1, runs - 1)


@pytest.mark.postgres
def test_a_batch_body_is_parsed_once(client, alice_workflow, monkeypatch):
    from rest_framework import parsers

    drf_parses = []
    load = parsers.json.load
    monkeypatch.setattr(parsers.json, "load", lambda *a, **k: drf_parses.append(1) or load(*a, **k))
    batch = {"executions": [execution_body(alice_workflow) for _ in range(3)]}

    response = post_execution(client, batch, site=alice_workflow.site)

    assert response.status_code == 200 and response.json()["recorded"] == 3
    assert drf_parses == []
