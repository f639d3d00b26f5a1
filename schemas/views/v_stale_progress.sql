-- comment = "One row per target and period whose progress text repeats the previous period's (white space ignored)."

SELECT publisher, plan_year, target_no, target_text, leader_name, lead_department,
       previous_period_key, period_key, progress_text, source_file, source_line
FROM v_target_sequence
WHERE previous_period_key IS NOT NULL
  AND regexp_replace(progress_text, '\s+', '', 'g') = regexp_replace(previous_progress_text, '\s+', '', 'g');
