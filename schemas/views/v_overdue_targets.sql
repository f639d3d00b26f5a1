-- comment = "One row per target and period whose deadline (deadline_date) fell before the period's end and that is not completed."

SELECT v.publisher, v.period_key, v.target_no, v.target_text, v.leader_name, v.lead_department,
       v.deadline_text, v.deadline_date, p.end_date AS period_end, v.progress_text, v.status_text, v.progress_status
FROM v_progress v JOIN dim_period p USING (period_key)
WHERE v.deadline_date < p.end_date AND v.progress_status <> 'completed';
