-- comment = "Flat progress for people who do not want joins; one row per target and period."

WITH departments AS (
    SELECT b.target_key,
           b.period_key,
           list(d.department_name ORDER BY b.position) AS departments,
           arg_min(d.department_name, b.position) AS lead_department
    FROM bridge_target_department b
    JOIN dim_department d USING (department_key)
    GROUP BY b.target_key, b.period_key
)
SELECT t.publisher,
       p.period_key,
       p.year,
       p.quarter,
       t.target_no,
       f.target_text,
       l.leader_name,
       coalesce(d.departments, []::VARCHAR[]) AS departments,
       d.lead_department,
       f.deadline_text,
       f.deadline_date,
       f.progress_text,
       f.on_schedule,
       r.source_file,
       f.source_line,
       t.plan_year,
       t.version AS target_version,
       f.target_key,
       f.report_key,
       array_to_string(coalesce(d.departments, []::VARCHAR[]), '、') AS departments_text,
       f.status_text,
       f.progress_status
FROM fact_target_progress f
JOIN dim_target t USING (target_key)
JOIN dim_period p ON p.period_key = f.period_key
JOIN dim_leader l USING (leader_key)
JOIN dim_report r USING (report_key)
LEFT JOIN departments d ON d.target_key = f.target_key AND d.period_key = f.period_key;
