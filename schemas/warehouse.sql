-- duban warehouse: a star schema of responsibility-target progress. Names are the analyst contract.
-- References between tables are not declared as FOREIGN KEY: DuckDB checks them eagerly inside a
-- transaction, which refuses replacing a report's rows in one transaction. Every reference is checked
-- after each load instead (pipelines/checks.py FOREIGN_KEYS, the foreign_keys asset check).
CREATE SEQUENCE IF NOT EXISTS report_key_seq START 1;
CREATE SEQUENCE IF NOT EXISTS leader_key_seq START 1;
CREATE SEQUENCE IF NOT EXISTS department_key_seq START 1;
CREATE SEQUENCE IF NOT EXISTS target_key_seq START 1;
CREATE SEQUENCE IF NOT EXISTS quarantine_key_seq START 1;

CREATE TABLE IF NOT EXISTS dim_period (
    period_key          VARCHAR PRIMARY KEY,
    year                INTEGER NOT NULL,
    quarter             INTEGER,
    end_month           INTEGER NOT NULL,
    start_date          DATE NOT NULL,
    end_date            DATE NOT NULL,
    year_elapsed_share  DOUBLE NOT NULL
);

CREATE TABLE IF NOT EXISTS dim_report (
    report_key        INTEGER PRIMARY KEY,
    source_file       VARCHAR NOT NULL,
    sha256            VARCHAR NOT NULL,
    publisher         VARCHAR,
    period_key        VARCHAR,          -- a dim_period key (checked by the foreign_keys asset check)
    title             VARCHAR,
    encoding          VARCHAR,
    reader            VARCHAR,
    file_modified_at  TIMESTAMP,
    records_read      INTEGER,
    accepted          INTEGER,
    quarantined       INTEGER,
    skipped_lines     INTEGER,
    status            VARCHAR NOT NULL CHECK (status IN ('loaded', 'superseded', 'failed')),
    error             VARCHAR,
    superseded_by     INTEGER,
    loaded_at         TIMESTAMP NOT NULL,
    pipeline_version  VARCHAR,          -- the code that derived its rows (pipelines/version.py); NULL before schema 3
    derived_sha256    VARCHAR           -- a hash of the rows derived from it, to tell a re-derivation that changed nothing
);

CREATE TABLE IF NOT EXISTS dim_leader (
    leader_key   INTEGER PRIMARY KEY,
    publisher    VARCHAR NOT NULL,
    leader_name  VARCHAR NOT NULL,
    UNIQUE (publisher, leader_name)
);

CREATE TABLE IF NOT EXISTS dim_department (
    department_key   INTEGER PRIMARY KEY,
    publisher        VARCHAR NOT NULL,
    department_name  VARCHAR NOT NULL,
    UNIQUE (publisher, department_name)
);

CREATE TABLE IF NOT EXISTS dim_target (
    target_key         INTEGER PRIMARY KEY,
    publisher          VARCHAR NOT NULL,
    plan_year          INTEGER NOT NULL,
    target_no          INTEGER NOT NULL,
    version            INTEGER NOT NULL,
    target_text        VARCHAR NOT NULL,
    text_normalized    VARCHAR NOT NULL,
    valid_from_period  VARCHAR NOT NULL,  -- a dim_period key (checked by the foreign_keys asset check)
    valid_to_period    VARCHAR,          -- a dim_period key or NULL (idem)
    UNIQUE (publisher, plan_year, target_no, text_normalized)
);

CREATE TABLE IF NOT EXISTS bridge_target_department (
    target_key      INTEGER NOT NULL,
    period_key      VARCHAR NOT NULL,
    department_key  INTEGER NOT NULL,
    position        INTEGER NOT NULL,
    is_lead         BOOLEAN NOT NULL,
    PRIMARY KEY (target_key, period_key, position)
);

CREATE TABLE IF NOT EXISTS fact_target_progress (
    target_key     INTEGER NOT NULL,
    period_key     VARCHAR NOT NULL,
    report_key     INTEGER NOT NULL,
    leader_key     INTEGER NOT NULL,
    target_text    VARCHAR NOT NULL,  -- as printed in this report (dim_target holds the version's text)
    deadline_text  VARCHAR NOT NULL,
    deadline_date  DATE,
    progress_text  VARCHAR NOT NULL,
    on_schedule    BOOLEAN,           -- TRUE for completed/ahead/on_schedule, FALSE for behind, NULL for other
    source_line    INTEGER NOT NULL,
    status_text      VARCHAR NOT NULL,  -- the progress flag as printed (是, 否, 已完成, 超序时进度 …)
    progress_status  VARCHAR NOT NULL CHECK (progress_status IN ('completed', 'ahead', 'on_schedule', 'behind', 'other')),
    PRIMARY KEY (target_key, period_key)
);

CREATE TABLE IF NOT EXISTS quarantine (
    quarantine_key  INTEGER PRIMARY KEY,
    report_key      INTEGER NOT NULL,
    source_file     VARCHAR NOT NULL,
    source_line     INTEGER NOT NULL,
    target_no_text  VARCHAR,
    reason          VARCHAR NOT NULL,
    column_name     VARCHAR,
    check_name      VARCHAR,
    failure_value   VARCHAR,
    raw_cells       VARCHAR[] NOT NULL,
    raw_text        VARCHAR NOT NULL
);

CREATE OR REPLACE VIEW v_progress AS
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

CREATE TABLE IF NOT EXISTS duban_meta (
    key    VARCHAR PRIMARY KEY,
    value  VARCHAR NOT NULL
);
