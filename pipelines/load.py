"""Write one staged report into the DuckDB star schema, in one transaction, idempotently."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import duckdb
import polars as pl

from pipelines.catalog import apply_comments
from pipelines.faults import pause_point
from pipelines.stage import StagedReport
from schemas import schema_file


@dataclass(frozen=True)
class LoadOutcome:
    """What loading a report did: 'loaded' (new or re-issued content) or 'unchanged' (already loaded)."""

    status: str
    report_key: int


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the warehouse tables and views if they do not exist yet."""
    con.execute(schema_file("warehouse.sql"))
    con.execute(schema_file("views.sql"))
    apply_comments(con)


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, frames: dict[str, pl.DataFrame]) -> Iterator[None]:
    for name, frame in frames.items():
        con.register(name, frame)
    try:
        yield
    finally:
        for name in frames:
            con.unregister(name)


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _already_loaded(con: duckdb.DuckDBPyConnection, report: dict) -> int | None:
    row = con.execute(
        """SELECT report_key FROM dim_report
           WHERE sha256 = ? AND publisher = ? AND period_key = ? AND status IN ('loaded', 'superseded')""",
        [report["sha256"], report["publisher"], report["period_key"]],
    ).fetchone()
    return row[0] if row else None


def _insert_report(con: duckdb.DuckDBPyConnection, report: dict) -> int:
    """Register the report, retiring the facts of the report it replaces; returns its key."""
    publisher, period_key = report["publisher"], report["period_key"]
    con.execute("DELETE FROM dim_report WHERE sha256 = ? AND status = 'failed'", [report["sha256"]])
    previous = [
        row[0]
        for row in con.execute(
            "SELECT report_key FROM dim_report WHERE publisher = ? AND period_key = ? AND status = 'loaded'",
            [publisher, period_key],
        ).fetchall()
    ]
    if previous:
        con.execute(
            """DELETE FROM bridge_target_department WHERE period_key = ? AND target_key IN (
                   SELECT target_key FROM fact_target_progress WHERE report_key IN (SELECT unnest(?::INTEGER[])))""",
            [period_key, previous],
        )
        con.execute("DELETE FROM fact_target_progress WHERE report_key IN (SELECT unnest(?::INTEGER[]))", [previous])
    (report_key,) = con.execute("SELECT nextval('report_key_seq')").fetchone()
    con.execute(
        """INSERT INTO dim_report (report_key, source_file, sha256, publisher, period_key, title, encoding, reader,
               file_modified_at, records_read, accepted, quarantined, skipped_lines, status, loaded_at)
           SELECT ?, source_file, sha256, publisher, period_key, title, encoding, reader, file_modified_at,
               records_read, accepted, quarantined, skipped_lines, 'loaded', now()::TIMESTAMP
           FROM stg_report""",
        [report_key],
    )
    if previous:
        con.execute(
            "UPDATE dim_report SET status = 'superseded', superseded_by = ? WHERE report_key IN (SELECT unnest(?::INTEGER[]))",
            [report_key, previous],
        )
    return report_key


def _upsert_dimensions(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """INSERT INTO dim_leader
           SELECT nextval('leader_key_seq'), s.publisher, s.leader_name FROM stg_leaders s
           WHERE NOT EXISTS (SELECT 1 FROM dim_leader d WHERE d.publisher = s.publisher AND d.leader_name = s.leader_name)"""
    )
    con.execute(
        """INSERT INTO dim_department
           SELECT nextval('department_key_seq'), s.publisher, s.department_name FROM stg_departments s
           WHERE NOT EXISTS (SELECT 1 FROM dim_department d
                             WHERE d.publisher = s.publisher AND d.department_name = s.department_name)"""
    )


def _insert_new_targets(con: duckdb.DuckDBPyConnection, period_key: str) -> None:
    """Open a dim_target row for each staged target whose normalised text is new for its number."""
    con.execute(
        """INSERT INTO dim_target
           SELECT nextval('target_key_seq'), s.publisher, s.plan_year, s.target_no, 0,
                  s.target_text, s.text_normalized, ?, NULL
           FROM stg_targets s
           WHERE NOT EXISTS (SELECT 1 FROM dim_target d
                             WHERE d.publisher = s.publisher AND d.plan_year = s.plan_year
                               AND d.target_no = s.target_no AND d.text_normalized = s.text_normalized)""",
        [period_key],
    )


def _refresh_target_versions(con: duckdb.DuckDBPyConnection, publisher: str) -> None:
    """Drop target versions no fact uses any more; renumber versions and their validity by first period used."""
    con.execute(
        """DELETE FROM dim_target t WHERE t.publisher = ?
           AND NOT EXISTS (SELECT 1 FROM fact_target_progress f WHERE f.target_key = t.target_key)""",
        [publisher],
    )
    con.execute(
        """UPDATE dim_target t
           SET version = o.version, valid_from_period = o.first_period, valid_to_period = o.next_period
           FROM (
               SELECT target_key,
                      row_number() OVER w AS version,
                      first_period,
                      lead(first_period) OVER w AS next_period
               FROM (
                   SELECT t.target_key, t.plan_year, t.target_no,
                          min(p.end_date) AS first_end, arg_min(p.period_key, p.end_date) AS first_period
                   FROM dim_target t
                   JOIN fact_target_progress f USING (target_key)
                   JOIN dim_period p ON p.period_key = f.period_key
                   WHERE t.publisher = ?
                   GROUP BY ALL
               )
               WINDOW w AS (PARTITION BY plan_year, target_no ORDER BY first_end)
           ) o
           WHERE t.target_key = o.target_key""",
        [publisher],
    )


_TARGET_KEYS = """(SELECT s.target_no, d.target_key FROM stg_targets s JOIN dim_target d
    ON d.publisher = s.publisher AND d.plan_year = s.plan_year AND d.target_no = s.target_no
   AND d.text_normalized = s.text_normalized)"""


def _insert_facts(con: duckdb.DuckDBPyConnection, report_key: int, report: dict) -> None:
    params = [report["period_key"], report_key, report["publisher"]]
    con.execute(
        """INSERT INTO fact_target_progress
           SELECT v.target_key, ?, ?, l.leader_key, f.target_text, f.deadline_text, f.deadline_date, f.progress_text,
                  f.on_schedule, f.source_line
           FROM stg_facts f
           JOIN {targets} v USING (target_no)
           JOIN dim_leader l ON l.publisher = ? AND l.leader_name = f.leader_name""".format(targets=_TARGET_KEYS),
        params,
    )
    con.execute(
        """INSERT INTO bridge_target_department
           SELECT v.target_key, ?, d.department_key, b.position, b.is_lead
           FROM stg_bridge b
           JOIN {targets} v USING (target_no)
           JOIN dim_department d ON d.publisher = ? AND d.department_name = b.department_name""".format(
            targets=_TARGET_KEYS
        ),
        [report["period_key"], report["publisher"]],
    )
    con.execute(
        """INSERT INTO quarantine
           SELECT nextval('quarantine_key_seq'), ?, ?, q.source_line, q.target_no_text, q.reason, q.column_name,
                  q.check_name, q.failure_value, q.raw_cells, array_to_string(q.raw_cells, chr(9))
           FROM stg_quarantine q ORDER BY q.source_line""",
        [report_key, report["source_file"]],
    )


def load_report(con: duckdb.DuckDBPyConnection, staged: StagedReport) -> LoadOutcome:
    """Load one report in one transaction; a report whose content is already loaded changes nothing."""
    report = staged.report.row(0, named=True)
    frames = {
        "stg_period": staged.period,
        "stg_report": staged.report,
        "stg_leaders": staged.leaders,
        "stg_departments": staged.departments,
        "stg_targets": staged.targets,
        "stg_bridge": staged.bridge,
        "stg_facts": staged.facts,
        "stg_quarantine": staged.quarantine,
    }
    with _registered(con, frames), _transaction(con):
        existing = _already_loaded(con, report)
        if existing is not None:
            return LoadOutcome("unchanged", existing)
        con.execute("INSERT INTO dim_period SELECT * FROM stg_period ON CONFLICT DO NOTHING")
        report_key = _insert_report(con, report)
        _upsert_dimensions(con)
        _insert_new_targets(con, report["period_key"])
        _insert_facts(con, report_key, report)
        _refresh_target_versions(con, report["publisher"])
        pause_point("load")  # inside the transaction: facts written, not committed
    return LoadOutcome("loaded", report_key)


def record_failed_report(
    con: duckdb.DuckDBPyConnection,
    source_file: str,
    sha256: str,
    period_key: str | None,
    error: str,
    publisher: str | None = None,
) -> None:
    """Note a report that could not be loaded, replacing any earlier note for the same file content."""
    with _transaction(con):
        con.execute("DELETE FROM dim_report WHERE sha256 = ? AND status = 'failed'", [sha256])
        known = period_key and con.execute("SELECT 1 FROM dim_period WHERE period_key = ?", [period_key]).fetchone()
        con.execute(
            """INSERT INTO dim_report (report_key, source_file, sha256, publisher, period_key, status, error, loaded_at)
               VALUES (nextval('report_key_seq'), ?, ?, ?, ?, 'failed', ?, now()::TIMESTAMP)""",
            [source_file, sha256, publisher, period_key if known else None, error],
        )
