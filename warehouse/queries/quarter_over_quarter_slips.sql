-- Targets that slipped from 是 to 否 (or caught up) between consecutive reported periods.
SELECT publisher, period_key, previous_period_key, target_no, leader_name, lead_department, change, target_text
FROM v_schedule_changes
ORDER BY publisher, period_key, change DESC, target_no;
