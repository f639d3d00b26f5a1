-- Targets whose deadline had passed by the end of their latest reported period and that were not on schedule then.
WITH latest AS (
    SELECT v.*, p.end_date AS period_end
    FROM v_progress v JOIN dim_period p USING (period_key)
    QUALIFY row_number() OVER (PARTITION BY v.publisher, v.plan_year, v.target_no ORDER BY p.end_date DESC) = 1
)
SELECT publisher, plan_year, target_no, period_key AS latest_period, deadline_text, deadline_date,
       leader_name, lead_department, progress_text
FROM latest
WHERE deadline_date < period_end AND NOT on_schedule
ORDER BY publisher, deadline_date, target_no;
