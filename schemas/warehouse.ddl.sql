-- Generated from schemas/tables/*.toml and schemas/views/*.sql by pipelines/contracts.py and views.py;
-- do not edit (tests compare it). References between tables are not FOREIGN KEYs (DuckDB checks them
-- too eagerly to replace a report in one transaction); the foreign_keys asset check verifies every one
-- after each load.
CREATE SEQUENCE IF NOT EXISTS "report_key_seq" START 1;
CREATE SEQUENCE IF NOT EXISTS "leader_key_seq" START 1;
CREATE SEQUENCE IF NOT EXISTS "department_key_seq" START 1;
CREATE SEQUENCE IF NOT EXISTS "target_key_seq" START 1;
CREATE SEQUENCE IF NOT EXISTS "quarantine_key_seq" START 1;

CREATE TABLE IF NOT EXISTS "dim_period" (
    "period_key" VARCHAR,
    "year" INTEGER NOT NULL,
    "quarter" INTEGER,
    "end_month" INTEGER NOT NULL,
    "start_date" DATE NOT NULL,
    "end_date" DATE NOT NULL,
    "year_elapsed_share" DOUBLE NOT NULL,
    PRIMARY KEY ("period_key")
);

CREATE TABLE IF NOT EXISTS "dim_report" (
    "report_key" INTEGER,
    "source_file" VARCHAR NOT NULL,
    "sha256" VARCHAR NOT NULL,
    "publisher" VARCHAR,
    "period_key" VARCHAR,
    "title" VARCHAR,
    "encoding" VARCHAR,
    "reader" VARCHAR,
    "file_modified_at" TIMESTAMP,
    "records_read" INTEGER,
    "accepted" INTEGER,
    "quarantined" INTEGER,
    "skipped_lines" INTEGER,
    "status" VARCHAR NOT NULL CHECK ((status IN ('loaded', 'superseded', 'failed'))),
    "error" VARCHAR,
    "superseded_by" INTEGER,
    "loaded_at" TIMESTAMP NOT NULL,
    "pipeline_version" VARCHAR,
    "derived_sha256" VARCHAR,
    PRIMARY KEY ("report_key")
);

CREATE TABLE IF NOT EXISTS "dim_leader" (
    "leader_key" INTEGER,
    "publisher" VARCHAR NOT NULL,
    "leader_name" VARCHAR NOT NULL,
    PRIMARY KEY ("leader_key"),
    UNIQUE ("publisher", "leader_name")
);

CREATE TABLE IF NOT EXISTS "dim_department" (
    "department_key" INTEGER,
    "publisher" VARCHAR NOT NULL,
    "department_name" VARCHAR NOT NULL,
    PRIMARY KEY ("department_key"),
    UNIQUE ("publisher", "department_name")
);

CREATE TABLE IF NOT EXISTS "dim_target" (
    "target_key" INTEGER,
    "publisher" VARCHAR NOT NULL,
    "plan_year" INTEGER NOT NULL,
    "target_no" INTEGER NOT NULL,
    "version" INTEGER NOT NULL,
    "target_text" VARCHAR NOT NULL,
    "text_normalized" VARCHAR NOT NULL,
    "valid_from_period" VARCHAR NOT NULL,
    "valid_to_period" VARCHAR,
    PRIMARY KEY ("target_key"),
    UNIQUE ("publisher", "plan_year", "target_no", "text_normalized")
);

CREATE TABLE IF NOT EXISTS "bridge_target_department" (
    "target_key" INTEGER,
    "period_key" VARCHAR,
    "department_key" INTEGER NOT NULL,
    "position" INTEGER,
    "is_lead" BOOLEAN NOT NULL,
    PRIMARY KEY ("target_key", "period_key", "position")
);

CREATE TABLE IF NOT EXISTS "fact_target_progress" (
    "target_key" INTEGER,
    "period_key" VARCHAR,
    "report_key" INTEGER NOT NULL,
    "leader_key" INTEGER NOT NULL,
    "target_text" VARCHAR NOT NULL,
    "deadline_text" VARCHAR NOT NULL,
    "deadline_date" DATE,
    "progress_text" VARCHAR NOT NULL,
    "on_schedule" BOOLEAN,
    "source_line" INTEGER NOT NULL,
    "status_text" VARCHAR NOT NULL,
    "progress_status" VARCHAR NOT NULL CHECK ("progress_status" IN ('completed', 'ahead', 'on_schedule', 'behind', 'other')),
    PRIMARY KEY ("target_key", "period_key")
);

CREATE TABLE IF NOT EXISTS "quarantine" (
    "quarantine_key" INTEGER,
    "report_key" INTEGER NOT NULL,
    "source_file" VARCHAR NOT NULL,
    "source_line" INTEGER NOT NULL,
    "target_no_text" VARCHAR,
    "reason" VARCHAR NOT NULL,
    "column_name" VARCHAR,
    "check_name" VARCHAR,
    "failure_value" VARCHAR,
    "raw_cells" VARCHAR[] NOT NULL,
    "raw_text" VARCHAR NOT NULL,
    PRIMARY KEY ("quarantine_key")
);

CREATE TABLE IF NOT EXISTS "duban_meta" (
    "key" VARCHAR,
    "value" VARCHAR NOT NULL,
    PRIMARY KEY ("key")
);

CREATE OR REPLACE VIEW "v_progress" AS
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

CREATE OR REPLACE VIEW "v_quarantine_reasons" AS
SELECT r.publisher, r.period_key, q.reason, count(*) AS records,
       string_agg(DISTINCT q.source_file, '、' ORDER BY q.source_file) AS source_files
FROM quarantine q JOIN dim_report r USING (report_key)
WHERE r.status = 'loaded'
GROUP BY r.publisher, r.period_key, q.reason;

CREATE OR REPLACE VIEW "v_report_quality" AS
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

CREATE OR REPLACE VIEW "v_target_changes" AS
SELECT n.publisher, n.plan_year, n.target_no,
       o.version AS previous_version, o.target_text AS previous_text, o.valid_from_period AS previous_from_period,
       n.version, n.target_text, n.valid_from_period
FROM dim_target n
JOIN dim_target o ON o.publisher = n.publisher AND o.plan_year = n.plan_year AND o.target_no = n.target_no
                 AND o.version = n.version - 1;

CREATE OR REPLACE VIEW "v_target_history" AS
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

CREATE OR REPLACE VIEW "v_target_sequence" AS
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

CREATE OR REPLACE VIEW "v_department_scorecard" AS
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

CREATE OR REPLACE VIEW "v_overdue_targets" AS
SELECT v.publisher, v.period_key, v.target_no, v.target_text, v.leader_name, v.lead_department,
       v.deadline_text, v.deadline_date, p.end_date AS period_end, v.progress_text, v.status_text, v.progress_status
FROM v_progress v JOIN dim_period p USING (period_key)
WHERE v.deadline_date < p.end_date AND v.progress_status <> 'completed';

CREATE OR REPLACE VIEW "v_period_summary" AS
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

CREATE OR REPLACE VIEW "v_schedule_changes" AS
SELECT publisher, plan_year, target_no, target_text, leader_name, lead_department,
       previous_period_key, period_key,
       previous_on_schedule, on_schedule,
       CASE WHEN previous_on_schedule AND NOT on_schedule THEN 'slipped' ELSE 'caught up' END AS change
FROM v_target_sequence
WHERE previous_period_key IS NOT NULL AND previous_on_schedule <> on_schedule;

CREATE OR REPLACE VIEW "v_stale_progress" AS
SELECT publisher, plan_year, target_no, target_text, leader_name, lead_department,
       previous_period_key, period_key, progress_text, source_file, source_line
FROM v_target_sequence
WHERE previous_period_key IS NOT NULL
  AND regexp_replace(progress_text, '\s+', '', 'g') = regexp_replace(previous_progress_text, '\s+', '', 'g');
