"""A site script's single execution is recorded in one statement; what it stores must be
exactly what the general path stores, and anything unusual must still get the exact answer."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from analytics.models import AnalyticsEvent, Execution, HourlyStat
from analytics.ratelimits import parse_rate
from analytics.tests.helpers import execution_body, post_execution

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
    # statement.
    with django_assert_num_queries(2):
        response = post_execution(client, batch, site=alice_workflow.site)

    assert response.json()["recorded"] == 20
    assert AnalyticsEvent.objects.count() == 20


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
    from analytics.parsers import TrackingJSONParser

    parses = []
    parse = TrackingJSONParser.parse
    monkeypatch.setattr(
        TrackingJSONParser, "parse", lambda *a, **k: parses.append(1) or parse(*a, **k)
    )
    batch = {"executions": [execution_body(alice_workflow) for _ in range(3)]}

    response = post_execution(client, batch, site=alice_workflow.site)

    assert response.status_code == 200 and response.json()["recorded"] == 3
    assert parses == [1]


def test_the_site_key_statements_stay_short_enough_for_psycopg_to_cache_their_parsing():
    # psycopg reads a statement's placeholders once and caches it only up to this length; past
    # it, every post pays for that reading again. A private constant: if psycopg renames it,
    # this fails, and the statements' length must be checked against psycopg's cache anew.
    from psycopg import _queries

    from analytics import conversions, services

    limit = _queries.MAX_CACHED_STATEMENT_LENGTH
    assert len(services._statements().for_site_key) <= limit
    assert len(conversions._statement()) <= limit
