from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from analytics.models import AnalyticsEvent, Execution, HourlyStat
from analytics.services import record_execution

pytestmark = pytest.mark.django_db


def run(workflow, days_ago: float):
    return record_execution(
        owner=workflow.owner,
        site=None,
        workflow_id=workflow.public_id,
        status="success",
        execution_time_ms=10,
        started_at=timezone.now() - timedelta(days=days_ago),
        actions=[{"name": "Hide", "selector": ".a"}, {"name": "Show", "selector": ".b"}],
    )


def test_old_executions_and_events_go_counters_and_rollup_stay(alice_workflow, settings):
    settings.TRACKING_MAX_DELAY_SECONDS = 10**9
    for days in (1, 2, 100, 200, 300):
        run(alice_workflow, days)
    rollup_before = HourlyStat.objects.aggregate(total=Sum("executions"))["total"]

    call_command("prune_executions", days=90, batch_size=2, pause=0)

    alice_workflow.refresh_from_db()
    assert Execution.objects.count() == 2
    assert AnalyticsEvent.objects.count() == 4
    assert alice_workflow.executions == 5
    assert HourlyStat.objects.aggregate(total=Sum("executions"))["total"] == rollup_before == 5


def test_nothing_recent_is_touched(alice_workflow):
    run(alice_workflow, 0.5)

    call_command("prune_executions", days=1, pause=0)

    assert Execution.objects.count() == 1
