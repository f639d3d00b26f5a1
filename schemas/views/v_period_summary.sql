-- # The quarterly briefing (督查通报, pipelines/briefing/) prints this view's numbers; BI tools can query the same.
-- comment = "The briefing's headline; one row per publisher and period: targets, count and share per progress_status, on schedule, and the change since the publisher's previous period."
--
-- [columns]
-- targets = "Targets reported in the period."
-- completed = "Targets whose status is completed (已完成)."
-- completed_pct = "completed / targets in percent, one decimal (as the briefing prints it)."
-- ahead = "Targets whose status is ahead (超序时进度)."
-- ahead_pct = "ahead / targets in percent, one decimal."
-- at_schedule = "Targets whose status is on_schedule (达到序时进度)."
-- at_schedule_pct = "at_schedule / targets in percent, one decimal."
-- behind = "Targets whose status is behind (未达到序时进度)."
-- behind_pct = "behind / targets in percent, one decimal."
-- other = "Targets whose flag is neither on schedule nor behind (其它: 基本达到 …)."
-- other_pct = "other / targets in percent, one decimal."
-- on_schedule_count = "Targets on schedule (completed + ahead + on_schedule)."
-- on_schedule_pct = "on_schedule_count / targets in percent, one decimal."
-- previous_period_key = "The publisher's previous period (by end date), NULL for its first."
-- previous_targets = "targets in the previous period."
-- previous_on_schedule_count = "on_schedule_count in the previous period."
-- previous_on_schedule_pct = "on_schedule_pct in the previous period."
-- previous_behind = "behind in the previous period."
-- on_schedule_count_change = "on_schedule_count minus the previous period's."
-- on_schedule_pct_change = "on_schedule_pct minus the previous period's, in percentage points."
-- behind_change = "behind minus the previous period's."

WITH counts AS (
    SELECT v.publisher, v.period_key, p.year, p.quarter, p.end_date AS period_end,
           count(*) AS targets,
           count(*) FILTER (WHERE v.progress_status = 'completed') AS completed,
           count(*) FILTER (WHERE v.progress_status = 'ahead') AS ahead,
           count(*) FILTER (WHERE v.progress_status = 'on_schedule') AS at_schedule,
           count(*) FILTER (WHERE v.progress_status = 'behind') AS behind,
           count(*) FILTER (WHERE v.progress_status = 'other') AS other,
           count(*) FILTER (WHERE v.on_schedule) AS on_schedule_count
    FROM v_progress v JOIN dim_period p USING (period_key)
    GROUP BY v.publisher, v.period_key, p.year, p.quarter, p.end_date
), shares AS (
    SELECT *,
           round(100.0 * completed / targets, 1) AS completed_pct,
           round(100.0 * ahead / targets, 1) AS ahead_pct,
           round(100.0 * at_schedule / targets, 1) AS at_schedule_pct,
           round(100.0 * behind / targets, 1) AS behind_pct,
           round(100.0 * other / targets, 1) AS other_pct,
           round(100.0 * on_schedule_count / targets, 1) AS on_schedule_pct
    FROM counts
)
SELECT publisher, period_key, year, quarter, period_end, targets,
       completed, completed_pct, ahead, ahead_pct, at_schedule, at_schedule_pct,
       behind, behind_pct, other, other_pct, on_schedule_count, on_schedule_pct,
       lag(period_key) OVER previous AS previous_period_key,
       lag(targets) OVER previous AS previous_targets,
       lag(on_schedule_count) OVER previous AS previous_on_schedule_count,
       lag(on_schedule_pct) OVER previous AS previous_on_schedule_pct,
       lag(behind) OVER previous AS previous_behind,
       on_schedule_count - lag(on_schedule_count) OVER previous AS on_schedule_count_change,
       round(on_schedule_pct - lag(on_schedule_pct) OVER previous, 1) AS on_schedule_pct_change,
       behind - lag(behind) OVER previous AS behind_change
FROM shares
WINDOW previous AS (PARTITION BY publisher ORDER BY period_end);
