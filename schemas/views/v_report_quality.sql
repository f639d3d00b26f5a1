-- comment = "One row per publisher and period: files loaded, superseded and failed, and the current files' records read, accepted and quarantined."
--
-- [columns]
-- files_loaded = "Files whose facts are current (dim_report.status = loaded)."
-- files_superseded = "Files replaced by a newer file for the period."
-- files_failed = "Files with a known publisher and period that could not be loaded."
-- records_read = "Records found in the loaded files."
-- accepted = "Records loaded as facts."
-- quarantined = "Records rejected into quarantine."

SELECT publisher, period_key,
       count(*) FILTER (WHERE status = 'loaded') AS files_loaded,
       count(*) FILTER (WHERE status = 'superseded') AS files_superseded,
       count(*) FILTER (WHERE status = 'failed') AS files_failed,
       coalesce(sum(records_read) FILTER (WHERE status = 'loaded'), 0) AS records_read,
       coalesce(sum(accepted) FILTER (WHERE status = 'loaded'), 0) AS accepted,
       coalesce(sum(quarantined) FILTER (WHERE status = 'loaded'), 0) AS quarantined
FROM dim_report
WHERE publisher IS NOT NULL AND period_key IS NOT NULL
GROUP BY publisher, period_key;
