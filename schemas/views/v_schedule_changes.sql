-- comment = "One row per target and period whose on-schedule flag differs from its previous period's."
--
-- [columns]
-- change = "slipped (是 → 否) or caught up (否 → 是)."

SELECT publisher, plan_year, target_no, target_text, leader_name, lead_department,
       previous_period_key, period_key,
       previous_on_schedule, on_schedule,
       CASE WHEN previous_on_schedule AND NOT on_schedule THEN 'slipped' ELSE 'caught up' END AS change
FROM v_target_sequence
WHERE previous_period_key IS NOT NULL AND previous_on_schedule <> on_schedule;
