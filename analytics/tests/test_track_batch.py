import pytest

from analytics.models import AnalyticsEvent, Execution
from analytics.tests.helpers import execution_body, post_execution

pytestmark = pytest.mark.django_db


def test_a_batch_records_each_execution_and_answers_per_item_in_order(
    client, alice_workflow, charlie_workflow
):
    batch = [
        execution_body(alice_workflow, executionId="a-1"),
        execution_body(alice_workflow, status="sleeping"),
        execution_body(charlie_workflow),
        execution_body(alice_workflow, executionId="a-1"),
        execution_body(alice_workflow, executionId="a-2", deviceType="mobile"),
    ]

    response = post_execution(client, {"executions": batch}, site=alice_workflow.site)

    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["results"]] == [201, 400, 404, 200, 201]
    assert [r["success"] for r in body["results"]] == [True, False, False, True, True]
    assert "status" in body["results"][1]["errors"]
    assert body["results"][2]["errors"] == {"workflowId": ["Workflow not found."]}
    assert body["results"][3]["executionId"] == body["results"][0]["executionId"]
    assert (body["success"], body["recorded"], body["duplicates"], body["failed"]) == (
        False,
        2,
        1,
        2,
    )
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 2
    assert Execution.objects.count() == 2
    assert AnalyticsEvent.objects.count() == 2


def test_a_fully_valid_batch_is_a_success(client, alice_workflow):
    batch = [execution_body(alice_workflow) for _ in range(100)]

    response = post_execution(client, {"executions": batch}, site=alice_workflow.site)

    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response.json()["recorded"] == 100
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == Execution.objects.count() == 100


@pytest.mark.parametrize(
    "executions",
    [[], "not a list", [1, 2], None],
    ids=["empty", "string", "numbers", "null"],
)
def test_a_malformed_batch_answers_400_and_stores_nothing(client, alice_workflow, executions):
    response = post_execution(client, {"executions": executions}, site=alice_workflow.site)

    assert response.status_code == 400
    assert "executions" in response.json()["errors"]
    assert not Execution.objects.exists()


def test_a_batch_of_more_than_100_is_refused_whole(client, alice_workflow):
    batch = [execution_body(alice_workflow) for _ in range(101)]

    response = post_execution(client, {"executions": batch}, site=alice_workflow.site)

    assert response.status_code == 400
    assert "executions" in response.json()["errors"]
    assert not Execution.objects.exists()


def test_the_same_execution_id_twice_in_one_batch_counts_once(client, alice_workflow):
    batch = [execution_body(alice_workflow, executionId="twice")] * 2 + [
        execution_body(alice_workflow, executionId="once")
    ]

    response = post_execution(client, {"executions": batch}, site=alice_workflow.site)

    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 200, 201]
    assert results[0]["executionId"] == results[1]["executionId"]
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == Execution.objects.count() == 2


def test_a_batch_counts_each_playbook_and_its_rollup_exactly(client, alice, alice_workflow):
    from django.db.models import Sum

    from analytics.models import HourlyStat
    from workflows.models import Workflow

    other = Workflow.objects.create(owner=alice, site=alice_workflow.site, name="Other")
    batch = [execution_body(alice_workflow)] * 3 + [execution_body(other, status="error")] * 2

    post_execution(client, {"executions": batch}, site=alice_workflow.site)

    alice_workflow.refresh_from_db()
    other.refresh_from_db()
    assert (alice_workflow.executions, other.executions) == (3, 2)
    stats = HourlyStat.objects.values("workflow").annotate(n=Sum("executions"), e=Sum("errors"))
    assert {row["workflow"]: (row["n"], row["e"]) for row in stats} == {
        alice_workflow.pk: (3, 0),
        other.pk: (2, 2),
    }


def test_a_batch_of_50_is_written_with_a_handful_of_queries(
    client, alice_workflow, django_assert_max_num_queries
):
    batch = [execution_body(alice_workflow) for _ in range(50)]

    with django_assert_max_num_queries(10):
        response = post_execution(client, {"executions": batch}, site=alice_workflow.site)

    assert response.json()["recorded"] == 50


def test_a_batch_records_only_the_playbooks_on_the_posting_site(client, alice, alice_workflow):
    from workflows.models import Site, Workflow

    elsewhere = Workflow.objects.create(
        owner=alice, site=Site.objects.create(owner=alice, name="Second shop"), name="Elsewhere"
    )
    batch = [execution_body(elsewhere), execution_body(alice_workflow)]

    response = post_execution(client, {"executions": batch}, site=alice_workflow.site)

    assert [r["status"] for r in response.json()["results"]] == [404, 201]
    elsewhere.refresh_from_db()
    assert elsewhere.executions == 0
    assert list(Execution.objects.values_list("workflow", flat=True)) == [alice_workflow.pk]
