"""Concurrent clients against real PostgreSQL: exact totals, nothing lost, nothing twice."""

import threading
from collections import Counter

import pytest
from django.db import connections
from django.test import Client

from analytics.models import AnalyticsEvent, Execution
from analytics.tests.helpers import execution_body, post_execution

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def run_together(count: int, work) -> list:
    """Run `work(index)` in `count` threads released at once by a barrier; return results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    return results


def test_16_clients_posting_50_executions_each_lose_nothing(alice_workflow):
    body = execution_body(alice_workflow)

    def post_fifty(index: int) -> Counter:
        client = Client()
        return Counter(
            post_execution(client, body, site=alice_workflow.site).status_code for _ in range(50)
        )

    statuses = sum(run_together(16, post_fifty), Counter())

    assert statuses == Counter({201: 800})
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 800
    assert Execution.objects.filter(workflow=alice_workflow).count() == 800
    assert AnalyticsEvent.objects.filter(workflow=alice_workflow).count() == 800


def test_concurrent_duplicates_of_one_execution_id_count_once(alice_workflow):
    body = execution_body(alice_workflow, executionId="retry-storm-1")

    def post_duplicate(index: int):
        return post_execution(Client(), body, site=alice_workflow.site)

    responses = run_together(16, post_duplicate)

    assert sorted(r.status_code for r in responses) == [200] * 15 + [201]
    assert len({r.json()["executionId"] for r in responses}) == 1
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 1
    assert Execution.objects.count() == 1
    assert AnalyticsEvent.objects.count() == 1


def test_concurrent_batches_to_one_hot_workflow_count_exactly(alice_workflow):
    batch = {"executions": [execution_body(alice_workflow) for _ in range(25)]}

    def post_batches(index: int) -> int:
        client = Client()
        return sum(
            post_execution(client, batch, site=alice_workflow.site).json()["recorded"]
            for _ in range(4)
        )

    recorded = sum(run_together(8, post_batches))

    alice_workflow.refresh_from_db()
    assert recorded == alice_workflow.executions == Execution.objects.count() == 800


def test_the_same_batch_sent_twice_at_once_counts_each_execution_once(alice_workflow):
    batch = {
        "executions": [execution_body(alice_workflow, executionId=f"b-{n}") for n in range(20)]
    }

    def post_batch(index: int) -> dict:
        return post_execution(Client(), batch, site=alice_workflow.site).json()

    answers = run_together(4, post_batch)

    assert sum(answer["recorded"] for answer in answers) == 20
    assert sum(answer["duplicates"] for answer in answers) == 60
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == Execution.objects.count() == 20
