-- duban warehouse: a star schema of responsibility-target progress. Names are the analyst contract.
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
COMMENT ON TABLE dim_period IS 'Reporting periods; one row per period (2021Q1, or 2021M11 for a month-end report).';

CREATE TABLE IF NOT EXISTS dim_report (
    report_key        INTEGER PRIMARY KEY,
    source_file       VARCHAR NOT NULL,
    sha256            VARCHAR NOT NULL,
    publisher         VARCHAR,
    period_key        VARCHAR REFERENCES dim_period (period_key),
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
    loaded_at         TIMESTAMP NOT NULL
);
COMMENT ON TABLE dim_report IS 'Ingested files; one row per file version loaded (or refused), with its counts and status.';

CREATE TABLE IF NOT EXISTS dim_leader (
    leader_key   INTEGER PRIMARY KEY,
    publisher    VARCHAR NOT NULL,
    leader_name  VARCHAR NOT NULL,
    UNIQUE (publisher, leader_name)
);
COMMENT ON TABLE dim_leader IS 'Vice-mayors in charge (市政府领导); one row per publisher and leader name.';

CREATE TABLE IF NOT EXISTS dim_department (
    department_key   INTEGER PRIMARY KEY,
    publisher        VARCHAR NOT NULL,
    department_name  VARCHAR NOT NULL,
    UNIQUE (publisher, department_name)
);
COMMENT ON TABLE dim_department IS 'Responsible departments (责任单位); one row per publisher and department name.';

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
COMMENT ON TABLE dim_target IS 'Responsibility targets; one row per target version (publisher, plan year, target_no and its text compared after normalising white space, full-width forms and traditional characters), SCD type 2: valid from valid_from_period until before valid_to_period (NULL: current).';

CREATE TABLE IF NOT EXISTS bridge_target_department (
    target_key      INTEGER NOT NULL REFERENCES dim_target (target_key),
    period_key      VARCHAR NOT NULL REFERENCES dim_period (period_key),
    department_key  INTEGER NOT NULL REFERENCES dim_department (department_key),
    position        INTEGER NOT NULL,
    is_lead         BOOLEAN NOT NULL,
    PRIMARY KEY (target_key, period_key, position)
);
COMMENT ON TABLE bridge_target_department IS 'Departments responsible for a target version in a period; one row per target version, period and department, position 1 leading.';

CREATE TABLE IF NOT EXISTS fact_target_progress (
    target_key     INTEGER NOT NULL REFERENCES dim_target (target_key),
    period_key     VARCHAR NOT NULL REFERENCES dim_period (period_key),
    report_key     INTEGER NOT NULL REFERENCES dim_report (report_key),
    leader_key     INTEGER NOT NULL REFERENCES dim_leader (leader_key),
    target_text    VARCHAR NOT NULL,  -- as printed in this report (dim_target holds the version's text)
    deadline_text  VARCHAR NOT NULL,
    deadline_date  DATE,
    progress_text  VARCHAR NOT NULL,
    on_schedule    BOOLEAN NOT NULL,
    source_line    INTEGER NOT NULL,
    PRIMARY KEY (target_key, period_key)
);
COMMENT ON TABLE fact_target_progress IS 'Progress on targets; one row per target and period, from the latest report of that period.';

CREATE TABLE IF NOT EXISTS quarantine (
    quarantine_key  INTEGER PRIMARY KEY,
    report_key      INTEGER NOT NULL REFERENCES dim_report (report_key),
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
COMMENT ON TABLE quarantine IS 'Records that could not be loaded; one row per rejected record, with file, line, reason and the raw cells.';

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
       f.report_key
FROM fact_target_progress f
JOIN dim_target t USING (target_key)
JOIN dim_period p ON p.period_key = f.period_key
JOIN dim_leader l USING (leader_key)
JOIN dim_report r USING (report_key)
LEFT JOIN departments d ON d.target_key = f.target_key AND d.period_key = f.period_key;
COMMENT ON VIEW v_progress IS 'Flat progress for people who do not want joins; one row per target and period.';
