-- comment = "One row per publisher, period and quarantine reason, over the loaded files: how many records."
--
-- [columns]
-- reason = "Why the records were rejected."
-- records = "Records rejected for this reason."
-- source_files = "The files they came from, joined by 、."

SELECT r.publisher, r.period_key, q.reason, count(*) AS records,
       string_agg(DISTINCT q.source_file, '、' ORDER BY q.source_file) AS source_files
FROM quarantine q JOIN dim_report r USING (report_key)
WHERE r.status = 'loaded'
GROUP BY r.publisher, r.period_key, q.reason;
