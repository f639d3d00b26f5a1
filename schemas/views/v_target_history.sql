-- comment = "One row per target (publisher, plan year, target_no): on-schedule flag and progress per quarter side by side."
--
-- [columns]
-- target_text = "The target's text in its latest reported period."
-- leader_name = "Leader in the latest reported period."
-- lead_department = "Leading department in the latest reported period."
-- q1_on_schedule = "On schedule in Q1 of the plan year."
-- q2_on_schedule = "On schedule in Q2 (上半年) of the plan year."
-- q3_on_schedule = "On schedule in Q3 (前三季度) of the plan year."
-- q4_on_schedule = "On schedule in Q4 (全年) of the plan year."
-- q1_progress = "Progress text in Q1."
-- q2_progress = "Progress text in Q2."
-- q3_progress = "Progress text in Q3."
-- q4_progress = "Progress text in Q4."
-- history = "Every reported period in order, with its on-schedule flag: period_key, on_schedule (progress per quarter is in q1_progress … q4_progress, every period's in v_progress)."
-- periods_reported = "Number of periods in which the target was reported."
-- history_text = "history as one text for tools that do not read lists: 2021Q1 是、2021Q2 否 …"

WITH leads AS (
    SELECT b.target_key, b.period_key, d.department_name
    FROM bridge_target_department b JOIN dim_department d USING (department_key)
    WHERE b.is_lead
),
-- the periods are gathered unordered and sorted as one list per target (by end_date, the struct's first
-- field): an aggregate with ORDER BY sorts within every group and took three times as long on 648k facts
per_target AS (
    SELECT t.publisher,
           t.plan_year,
           t.target_no,
           arg_max(f.target_text, p.end_date) AS target_text,
           arg_max(l.leader_name, p.end_date) AS leader_name,
           arg_max(ld.department_name, p.end_date) AS lead_department,
           bool_or(f.on_schedule) FILTER (WHERE p.year = t.plan_year AND p.quarter = 1) AS q1_on_schedule,
           bool_or(f.on_schedule) FILTER (WHERE p.year = t.plan_year AND p.quarter = 2) AS q2_on_schedule,
           bool_or(f.on_schedule) FILTER (WHERE p.year = t.plan_year AND p.quarter = 3) AS q3_on_schedule,
           bool_or(f.on_schedule) FILTER (WHERE p.year = t.plan_year AND p.quarter = 4) AS q4_on_schedule,
           any_value(f.progress_text) FILTER (WHERE p.year = t.plan_year AND p.quarter = 1) AS q1_progress,
           any_value(f.progress_text) FILTER (WHERE p.year = t.plan_year AND p.quarter = 2) AS q2_progress,
           any_value(f.progress_text) FILTER (WHERE p.year = t.plan_year AND p.quarter = 3) AS q3_progress,
           any_value(f.progress_text) FILTER (WHERE p.year = t.plan_year AND p.quarter = 4) AS q4_progress,
           list_sort(list({'end_date': p.end_date, 'period_key': p.period_key, 'on_schedule': f.on_schedule,
                           'status': p.period_key || ' ' || f.status_text})) AS periods,
           count(*) AS periods_reported
    FROM fact_target_progress f
    JOIN dim_target t USING (target_key)
    JOIN dim_period p ON p.period_key = f.period_key
    JOIN dim_leader l USING (leader_key)
    LEFT JOIN leads ld ON ld.target_key = f.target_key AND ld.period_key = f.period_key
    GROUP BY t.publisher, t.plan_year, t.target_no
)
SELECT publisher,
       plan_year,
       target_no,
       target_text,
       leader_name,
       lead_department,
       q1_on_schedule,
       q2_on_schedule,
       q3_on_schedule,
       q4_on_schedule,
       q1_progress,
       q2_progress,
       q3_progress,
       q4_progress,
       list_transform(periods, lambda p: {'period_key': p.period_key, 'on_schedule': p.on_schedule}) AS history,
       periods_reported,
       list_aggr(list_transform(periods, lambda p: p.status), 'string_agg', '、') AS history_text
FROM per_target;
