"""The read side of goals: conversions per goal, each playbook's lift on each goal of its site
(from the counters and tallies the write path keeps, so no page counts visitors), and what
known bots sent that was not counted."""

import functools
from dataclasses import dataclass
from datetime import date

from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from analytics import lift
from analytics.models import LiftTally, NotCounted
from workflows.models import Goal, Workflow


@dataclass(frozen=True)
class GoalLift:
    """A playbook's lift on one goal."""

    workflow: Workflow
    goal: Goal
    lift: lift.Lift


# The same counts give the same lift: pages that poll do not recompute it.
measure = functools.lru_cache(maxsize=4096)(lift.measure)


def _lift(workflow: Workflow, goal: Goal, exposed: int, held_out: int) -> GoalLift:
    counts = (workflow.exposed_visitors, exposed, workflow.held_out_visitors, held_out)
    return GoalLift(workflow, goal, measure(*counts))


def lift_of_playbook(workflow: Workflow) -> list[GoalLift]:
    """The playbook's lift on each goal of its site (one query)."""
    tallies = LiftTally.objects.filter(workflow=workflow, goal=OuterRef("pk"))

    def converters(held_out: bool) -> Coalesce:
        found = tallies.filter(held_out=held_out).values("converters")
        return Coalesce(Subquery(found), Value(0), output_field=IntegerField())

    goals = Goal.objects.filter(site_id=workflow.site_id).annotate(
        exposed=converters(False), held_out=converters(True)
    )
    return [_lift(workflow, goal, goal.exposed, goal.held_out) for goal in goals]


def lift_ranking(user) -> list[GoalLift]:
    """Every playbook with a holdout group against every goal of its site: those with enough
    data first, by lift (best first), then the others, the most visited first (three
    queries)."""
    playbooks = list(
        Workflow.objects.for_user(user)
        .filter(Q(holdout_percent__gt=0) | Q(held_out_visitors__gt=0))
        .select_related("site")
    )
    if not playbooks:
        return []
    goals_of: dict[int, list[Goal]] = {}
    for goal in Goal.objects.for_user(user).filter(site__in={p.site_id for p in playbooks}):
        goals_of.setdefault(goal.site_id, []).append(goal)
    converters = {
        (row.workflow_id, row.goal_id, row.held_out): row.converters
        for row in LiftTally.objects.for_user(user).filter(workflow__in=playbooks)
    }
    ranked = [
        _lift(
            playbook,
            goal,
            converters.get((playbook.pk, goal.pk, False), 0),
            converters.get((playbook.pk, goal.pk, True), 0),
        )
        for playbook in playbooks
        for goal in goals_of.get(playbook.site_id, [])
    ]
    return sorted(ranked, key=_rank)


def _rank(item: GoalLift) -> tuple:
    if item.lift.enough:
        return (0, -item.lift.lift, item.workflow.name, item.goal.name)
    visitors = item.lift.exposed_visitors + item.lift.held_out_visitors
    return (1, -visitors, item.workflow.name, item.goal.name)


def goals_with_conversions(user, since: date) -> QuerySet[Goal]:
    """The user's goals, each with its conversions since `since` and in all (one query)."""
    return (
        Goal.objects.for_user(user)
        .select_related("site")
        .annotate(
            recent=Coalesce(
                Sum("goaldailystat__conversions", filter=Q(goaldailystat__day__gte=since)), 0
            ),
            total=Coalesce(Sum("goaldailystat__conversions"), 0),
        )
        .order_by("name", "pk")
    )


@dataclass(frozen=True)
class Dropped:
    reason: str  # the bot's name
    executions: int
    conversions: int


def not_counted(user, since: date) -> list[Dropped]:
    """What known bots posted since `since` (a UTC day), by bot, the most first (one query)."""
    rows = (
        NotCounted.objects.for_user(user)
        .filter(day__gte=since)
        .values("reason")
        .annotate(executions=Sum("executions"), conversions=Sum("conversions"))
    )
    dropped = [Dropped(row["reason"], row["executions"], row["conversions"]) for row in rows]
    return sorted(dropped, key=lambda d: (-(d.executions + d.conversions), d.reason))
