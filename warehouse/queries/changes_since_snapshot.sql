-- DuckLake warehouses only (--warehouse ducklake:…): targets whose progress status differs between an
-- earlier snapshot and now, e.g. after a re-issued report. List the snapshots and pick one with
--   duban sql --warehouse ducklake:… "SELECT snapshot_id, snapshot_time, commit_message FROM lake.snapshots()"
-- then put its id in place of the 1 in the three AT (VERSION => …) clauses below.
-- One row per publisher, period and target whose status changed (NULL: not in the warehouse then or now).
WITH now AS (
    SELECT r.publisher, f.period_key, t.target_no, f.progress_status
    FROM fact_target_progress f
    JOIN dim_report r USING (report_key)
    JOIN dim_target t USING (target_key)
    WHERE r.status = 'loaded'
), earlier AS (
    SELECT r.publisher, f.period_key, t.target_no, f.progress_status
    FROM (FROM fact_target_progress AT (VERSION => 1)) f
    JOIN (FROM dim_report AT (VERSION => 1)) r USING (report_key)
    JOIN (FROM dim_target AT (VERSION => 1)) t USING (target_key)
    WHERE r.status = 'loaded'
)
SELECT publisher, period_key, target_no, earlier.progress_status AS status_then, now.progress_status AS status_now
FROM now FULL JOIN earlier USING (publisher, period_key, target_no)
WHERE earlier.progress_status IS DISTINCT FROM now.progress_status
ORDER BY publisher, period_key, target_no;
