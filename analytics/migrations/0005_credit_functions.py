"""Credit playbooks with the goals their visitors reached, exactly once under concurrency.

An exposure and a conversion of the same visitor may be recorded at the same moment by two
transactions, neither seeing the other's row. Each statement that records either calls one of
these functions with what it wrote: the function takes a lock per visitor (held until the
transaction ends) and only then looks for the other side, in a fresh snapshot (a volatile
function's queries each take one). Whichever of the two comes second sees the first.

Each visitor's rows are looked up by its index, one visitor at a time (the OFFSET 0 keeps the
planner from joining them all at once, which it did with a scan of the whole table: it cannot
know how few rows the function is given).
"""

from django.db import migrations

ATTRIBUTE_AND_COUNT = """
    WITH credited AS (
        INSERT INTO analytics_attribution (workflow_id, goal_id, visitor_id, held_out)
        {pairs}
        ORDER BY 1, 2, 3
        ON CONFLICT (workflow_id, goal_id, visitor_id) DO NOTHING
        RETURNING workflow_id, goal_id, held_out
    )
    INSERT INTO analytics_lifttally (workflow_id, goal_id, owner_id, held_out, converters)
    SELECT credited.workflow_id, credited.goal_id, workflow.owner_id, credited.held_out, count(*)
    FROM credited JOIN workflows_workflow workflow ON workflow.id = credited.workflow_id
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 4
    ON CONFLICT (workflow_id, goal_id, held_out)
    DO UPDATE SET converters = analytics_lifttally.converters + excluded.converters;
"""

LOCK_VISITORS = """
    PERFORM pg_advisory_xact_lock(hashtextextended('visitor:' || visitor_id, 0))
    FROM (SELECT DISTINCT item ->> 'visitor_id' AS visitor_id
          FROM jsonb_array_elements(rows) AS item ORDER BY 1) AS visitor;
"""

CREDIT_EXPOSURES = f"""
CREATE OR REPLACE FUNCTION analytics_credit_exposures(rows jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE STRICT AS $$
BEGIN
    {LOCK_VISITORS}
    {ATTRIBUTE_AND_COUNT.format(pairs='''
        SELECT DISTINCT exposure.workflow_id, conversion.goal_id, exposure.visitor_id,
            exposure.held_out
        FROM jsonb_to_recordset(rows) AS exposure (
            workflow_id bigint, owner_id integer, visitor_id text, held_out boolean,
            exposed_at timestamptz)
        JOIN workflows_workflow playbook ON playbook.id = exposure.workflow_id
        CROSS JOIN LATERAL (
            SELECT * FROM analytics_conversion conversion
            WHERE conversion.visitor_id = exposure.visitor_id
                AND conversion.owner_id = exposure.owner_id
                AND conversion.converted_at >= exposure.exposed_at
            OFFSET 0) AS conversion
        JOIN workflows_goal goal ON goal.id = conversion.goal_id AND goal.site_id = playbook.site_id
    ''')}
END $$;
"""

CREDIT_CONVERSIONS = f"""
CREATE OR REPLACE FUNCTION analytics_credit_conversions(rows jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE STRICT AS $$
BEGIN
    {LOCK_VISITORS}
    {ATTRIBUTE_AND_COUNT.format(pairs='''
        SELECT DISTINCT exposure.workflow_id, conversion.goal_id, exposure.visitor_id,
            exposure.held_out
        FROM jsonb_to_recordset(rows) AS conversion (
            goal_id bigint, owner_id integer, visitor_id text, converted_at timestamptz)
        JOIN workflows_goal goal ON goal.id = conversion.goal_id
        CROSS JOIN LATERAL (
            SELECT * FROM analytics_exposure exposure
            WHERE exposure.visitor_id = conversion.visitor_id
                AND exposure.owner_id = conversion.owner_id
                AND exposure.exposed_at <= conversion.converted_at
            OFFSET 0) AS exposure
        JOIN workflows_workflow playbook ON playbook.id = exposure.workflow_id
            AND playbook.site_id = goal.site_id
    ''')}
END $$;
"""

DROP = """
DROP FUNCTION IF EXISTS analytics_credit_exposures(jsonb);
DROP FUNCTION IF EXISTS analytics_credit_conversions(jsonb);
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREDIT_EXPOSURES)
        schema_editor.execute(CREDIT_CONVERSIONS)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0004_exposures_and_conversions")]

    operations = [migrations.RunPython(create, drop)]
