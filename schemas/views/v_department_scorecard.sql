-- comment = "One row per publisher, period and department: targets it leads and how many of them are on schedule."
--
-- [columns]
-- targets_led = "Targets the department leads in the period."
-- led_on_schedule = "Of those, how many are on schedule."
-- share_on_schedule = "led_on_schedule / targets_led (NULL when it leads none)."
-- targets_involved = "Targets the department is named on, leading or not."
-- led_completed = "Targets it leads whose status is completed (已完成 …); they count as on schedule."
-- led_ahead = "Targets it leads whose status is ahead (超序时进度 …); they count as on schedule."
-- led_behind = "Targets it leads that are behind (否, 欠进度 …)."
-- led_other = "Targets it leads whose flag is neither on schedule nor behind (基本达到 …)."

WITH involvement AS (
    SELECT v.publisher, v.period_key, d.department_name, b.is_lead, v.on_schedule, v.progress_status
    FROM v_progress v
    JOIN bridge_target_department b ON b.target_key = v.target_key AND b.period_key = v.period_key
    JOIN dim_department d ON d.department_key = b.department_key
)
SELECT publisher,
       period_key,
       department_name,
       count(*) FILTER (WHERE is_lead) AS targets_led,
       count(*) FILTER (WHERE is_lead AND on_schedule) AS led_on_schedule,
       round(count(*) FILTER (WHERE is_lead AND on_schedule) / nullif(count(*) FILTER (WHERE is_lead), 0), 4)
           AS share_on_schedule,
       count(*) AS targets_involved,
       count(*) FILTER (WHERE is_lead AND progress_status = 'completed') AS led_completed,
       count(*) FILTER (WHERE is_lead AND progress_status = 'ahead') AS led_ahead,
       count(*) FILTER (WHERE is_lead AND progress_status = 'behind') AS led_behind,
       count(*) FILTER (WHERE is_lead AND progress_status = 'other') AS led_other
FROM involvement
GROUP BY publisher, period_key, department_name;
