"""The write path for conversions: visitors reaching a site's goals.

What a conversion stores is read from the model (`conversion_columns`). Each is counted at
most once per visitor, goal and UTC day, with its goal's daily rollup, and credited to the
playbooks that exposed (or held out) its visitor before it, in the same transaction: one
statement on PostgreSQL, the ORM elsewhere.
"""

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from analytics.models import Conversion, Exposure, GoalDailyStat
from analytics.services import _json, _stored_fields, credit_with_the_orm
from workflows.models import Goal, Site, SiteOrigin

# Every column of a conversion but its keys (primary, goal, owner).
CONVERSION_FIELDS = _stored_fields(Conversion)


@dataclass(frozen=True)
class RecordedConversion:
    conversion_id: str | None  # the site script's own id for it, when it sent one
    created: bool


def conversion_columns(item: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A conversion's columns from its validated item: dated when it happened (a clock
    slightly ahead is brought back), on that UTC day."""
    occurred_at = item.get("occurred_at")
    converted_at = min(occurred_at, now) if occurred_at else now
    columns = {
        "visitor_id": item["visitor_id"],
        "day": converted_at.astimezone(UTC).date(),
        "converted_at": converted_at,
        "received_at": now,
        "page_url": item.get("page_url", ""),
    }
    return columns


def record_conversions(
    *, site_key: str, origin: str | None, items: Sequence[Mapping[str, Any]]
) -> list[RecordedConversion | None] | None:
    """Record conversions posted with a site key. None when the key, its owner (active) or the
    origin (listed by the site, when there is one) is not in order, and nothing is written;
    else per item, in order: its recording (`created=False` when its visitor had already
    reached that goal that day), or None when its goal is not one of the site's."""
    now = timezone.now()
    rows = [conversion_columns(item, now) for item in items]
    if connection.vendor == "postgresql":
        found = _write_in_one_statement(site_key, origin, items, rows)
    else:
        found = _write_with_the_orm(site_key, origin, items, rows)
    if found is None:
        return None
    return [
        RecordedConversion(item.get("client_conversion_id"), found[position])
        if position in found
        else None
        for position, item in enumerate(items)
    ]


def _write_in_one_statement(site_key, origin, items, rows) -> dict[int, bool] | None:
    document = [
        {**row, "goal": str(item["goal_id"]), "position": position}
        for position, (item, row) in enumerate(zip(items, rows, strict=True))
    ]
    params = {"items": _json(document), "site_key": site_key, "origin": origin}
    with connection.cursor() as cursor:
        cursor.execute(_statement(), params)
        answered = cursor.fetchall()
    if not answered:
        return None
    return {position: created for _, position, created in answered if position is not None}


@functools.cache
def _statement() -> str:
    """Looks the key, its site and each goal up, writes the conversions new that day, adds
    them to their goals' daily rollups, and credits each playbook of the site that exposed the
    visitor before the conversion, once per playbook, goal and visitor (see
    analytics/migrations/0005_credit_functions.py). Answers a row for
    the site (none when the key is not in order) and one per item whose goal was found."""
    conversion, goal = Conversion._meta.db_table, Goal._meta.db_table
    columns = ", ".join(field.column for field in CONVERSION_FIELDS)
    daily = GoalDailyStat._meta.db_table
    owner_table = Site._meta.get_field("owner").related_model._meta.db_table
    statement = f"""
    WITH site AS (
        SELECT site.id, site.owner_id FROM {Site._meta.db_table} site
        JOIN {owner_table} owner ON owner.id = site.owner_id AND owner.is_active
        WHERE site.site_key = %(site_key)s
            AND (%(origin)s::text IS NULL OR EXISTS (
                SELECT FROM {SiteOrigin._meta.db_table} allowed
                WHERE allowed.site_id = site.id AND allowed.origin = %(origin)s))
    ),
    target AS (
        SELECT goal.id AS goal_pk, site.owner_id AS owner_pk,
            (item.item ->> 'position')::int AS position,
            {", ".join(f"conversion.{field.column}" for field in CONVERSION_FIELDS)}
        FROM site
        CROSS JOIN jsonb_array_elements(%(items)s::jsonb) AS item (item)
        CROSS JOIN jsonb_populate_record(NULL::{conversion}, item.item) conversion
        JOIN {goal} goal
            ON goal.public_id = (item.item ->> 'goal')::uuid AND goal.site_id = site.id
    ),
    conversion AS (
        INSERT INTO {conversion} (goal_id, owner_id, {columns})
        SELECT goal_pk, owner_pk, {columns} FROM target ORDER BY goal_pk, visitor_id, day
        ON CONFLICT (goal_id, visitor_id, day) DO NOTHING
        RETURNING goal_id, owner_id, visitor_id, day, converted_at
    ),
    daily AS (
        INSERT INTO {daily} (goal_id, owner_id, day, conversions)
        SELECT goal_id, owner_id, day, count(*) FROM conversion GROUP BY 1, 2, 3 ORDER BY 1, 3
        ON CONFLICT (goal_id, day)
            DO UPDATE SET conversions = {daily}.conversions + excluded.conversions
    ),
    credit AS (SELECT analytics_credit_conversions(jsonb_agg(conversion)) FROM conversion)
    SELECT site.owner_id, target.position, conversion.goal_id IS NOT NULL
    FROM site CROSS JOIN credit LEFT JOIN target ON true
    LEFT JOIN conversion ON conversion.goal_id = target.goal_pk
        AND conversion.visitor_id = target.visitor_id AND conversion.day = target.day
    """
    return " ".join(statement.split())


def _write_with_the_orm(site_key, origin, items, rows) -> dict[int, bool] | None:
    """`_write_in_one_statement` on any database."""
    site = Site.objects.by_key(site_key, origin)
    if site is None or not site.owner.is_active or site.origin_allowed is False:
        return None
    with transaction.atomic():
        goal_of = dict(
            Goal.objects.filter(
                site=site, public_id__in={item["goal_id"] for item in items}
            ).values_list("public_id", "pk")
        )
        found: dict[int, bool] = {}
        new: dict[tuple, Conversion] = {}
        for position, (item, row) in enumerate(zip(items, rows, strict=True)):
            goal_pk = goal_of.get(item["goal_id"])
            if goal_pk is None:
                continue
            key = (goal_pk, row["visitor_id"], row["day"])
            if (
                key not in new
                and not Conversion.objects.filter(
                    goal_id=goal_pk, visitor_id=row["visitor_id"], day=row["day"]
                ).exists()
            ):
                new[key] = Conversion(goal_id=goal_pk, owner=site.owner, **row)
            found[position] = key in new
        for conversion in sorted(new.values(), key=lambda c: (c.goal_id, c.visitor_id, c.day)):
            conversion.save()
            daily, _ = GoalDailyStat.objects.get_or_create(
                goal_id=conversion.goal_id, day=conversion.day, defaults={"owner": site.owner}
            )
            GoalDailyStat.objects.filter(pk=daily.pk).update(conversions=F("conversions") + 1)
            exposures = Exposure.objects.filter(
                owner=site.owner,
                visitor_id=conversion.visitor_id,
                exposed_at__lte=conversion.converted_at,
                workflow__site=site,
            ).order_by("workflow_id")
            for exposure in exposures:
                credit_with_the_orm(site.owner, exposure, {conversion.goal_id})
    return found
