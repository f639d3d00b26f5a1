-- Generated from schemas/tables/*.toml by pipelines/contracts.py; do not edit (tests compare it).
-- References between tables are not FOREIGN KEYs (DuckDB checks them too eagerly to replace a report
-- in one transaction); the foreign_keys asset check verifies every one after each load.
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
