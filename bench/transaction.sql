-- The tracking transaction as SQL: one execution, its counter, three action events and the
-- hourly and daily rollups, exactly the rows the endpoint writes. :wid is chosen by run.py.
BEGIN;
INSERT INTO analytics_execution (public_id, workflow_id, owner_id, status, execution_time_ms,
    page_url, session_id, device_type, trigger_name, client_user_id, client_execution_id,
    executed_at, received_at)
  VALUES (gen_random_uuid(), :wid, :owner, 'success', 250, 'https://example.com/pricing', 's',
    'desktop', 'UTM Parameters', '', md5(random()::text), now(), now())
  RETURNING id AS eid \gset
UPDATE workflows_workflow SET executions = executions + 1,
    last_run = GREATEST(COALESCE(last_run, now()), now()) WHERE id = :wid;
INSERT INTO analytics_analyticsevent (workflow_id, execution_id, event_type, element_selector,
    page_url, event_data, created_at)
  VALUES (:wid, :eid, 'action_executed', '.a', 'https://example.com/pricing', '{"name": "Replace Text", "config": {"text": "Offer"}, "executionTimeMs": 4, "error": ""}', now()),
         (:wid, :eid, 'action_executed', '.b', 'https://example.com/pricing', '{"name": "Add Class", "config": {"className": "x"}, "executionTimeMs": 2, "error": ""}', now()),
         (:wid, :eid, 'action_executed', '.c', 'https://example.com/pricing', '{"name": "Hide", "config": {}, "executionTimeMs": 1, "error": ""}', now());
INSERT INTO analytics_hourlystat (workflow_id, owner_id, hour, executions, errors, timeouts,
    desktop, mobile, tablet, total_time_ms)
  VALUES (:wid, :owner, date_trunc('hour', now()), 1, 0, 0, 1, 0, 0, 250)
  ON CONFLICT (workflow_id, hour) DO UPDATE SET executions = analytics_hourlystat.executions + 1,
    desktop = analytics_hourlystat.desktop + 1,
    total_time_ms = analytics_hourlystat.total_time_ms + excluded.total_time_ms;
INSERT INTO analytics_dailystat (workflow_id, owner_id, day, executions, errors, timeouts,
    desktop, mobile, tablet, total_time_ms)
  VALUES (:wid, :owner, (now() AT TIME ZONE 'UTC')::date, 1, 0, 0, 1, 0, 0, 250)
  ON CONFLICT (workflow_id, day) DO UPDATE SET executions = analytics_dailystat.executions + 1,
    desktop = analytics_dailystat.desktop + 1,
    total_time_ms = analytics_dailystat.total_time_ms + excluded.total_time_ms;
END;
