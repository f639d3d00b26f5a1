-- comment = "One row per target and period, with the same target's previous reported period beside it."

WITH leads AS (
    SELECT b.target_key, b.period_key, d.department_name
    FROM bridge_target_department b JOIN dim_department d USING (department_key)
    WHERE b.is_lead
)
SELECT t.publisher, p.period_key, p.year, p.quarter, t.plan_year, t.target_no, f.target_text, l.leader_name,
       ld.department_name AS lead_department, f.deadline_text, f.deadline_date, f.progress_text, f.on_schedule,
       r.source_file, f.source_line, f.target_key, f.report_key,
       p.end_date AS period_end,
       lag(p.period_key) OVER w AS previous_period_key,
       lag(f.on_schedule) OVER w AS previous_on_schedule,
       lag(f.progress_text) OVER w AS previous_progress_text
FROM fact_target_progress f
JOIN dim_target t USING (target_key)
JOIN dim_period p ON p.period_key = f.period_key
JOIN dim_leader l USING (leader_key)
JOIN dim_report r USING (report_key)
LEFT JOIN leads ld ON ld.target_key = f.target_key AND ld.period_key = f.period_key
WINDOW w AS (PARTITION BY t.publisher, t.plan_year, t.target_no ORDER BY p.end_date);
