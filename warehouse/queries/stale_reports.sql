-- Progress that repeats the previous period's text word for word: nothing new was reported.
-- One row per publisher, period and lead department, with the targets concerned.
SELECT publisher, period_key, lead_department, count(*) AS stale_targets, list(target_no ORDER BY target_no) AS target_nos
FROM v_stale_progress
GROUP BY ALL
ORDER BY publisher, period_key, stale_targets DESC, lead_department;
