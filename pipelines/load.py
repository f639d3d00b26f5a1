"""Write one staged report into the DuckDB star schema, in one transaction, idempotently."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import fields
from typing import TYPE_CHECKING, Callable, Iterator

import duckdb
import polars as pl

from pipelines.catalog import apply_comments, catalog_fingerprint, schema_fingerprint
from pipelines.contracts import ddl, identifier
from pipelines.migrate import mark_current, upgrade
from pipelines.sql_lists import json_list
from pipelines.version import pipeline_version
from pipelines.views import view_names

if TYPE_CHECKING:  # rows are shaped (and checked by pandera) only where reports are loaded
    from pipelines.table_rows import TableRows


def ensure_schema(con: duckdb.DuckDBPyConnection, lake: bool = False) -> list[str]:
    """Upgrade an older warehouse and (re)create its tables, views and comments when they changed; returns the migrations done.

    The definitions run only when a table contract, a view file or a description changed since they last
    ran: recreating the views and writing the COMMENTs (one statement per column) costs more than a small
    build. A view whose file is gone is dropped.
    """
    steps = upgrade(con)
    wanted = schema_fingerprint() + ":" + catalog_fingerprint()
    if not steps and _applied(con) == wanted:
        return steps
    with nullcontext() if lake else _transaction(con):  # a DuckLake's caller holds the transaction already
        con.execute(ddl(lake))
        _drop_views_not_in(con, set(view_names()))
        mark_current(con)
        apply_comments(con, view_columns=not lake)  # in one transaction: 0.08 s, each COMMENT committed alone 0.22 s
        set_meta(con, "definitions_applied", wanted)
    return steps


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    """Write one duban_meta setting (a delete and an insert: a DuckLake has no key to upsert on)."""
    con.execute("DELETE FROM duban_meta WHERE key = ?", [key])
    con.execute("INSERT INTO duban_meta VALUES (?, ?)", [key, value])


def add_periods(con: duckdb.DuckDBPyConnection, rows: str) -> None:
    """Insert the periods of the registered frame `rows` that dim_period does not hold yet."""
    con.execute(
        f"""INSERT INTO dim_period BY NAME
            SELECT DISTINCT ON (period_key) * FROM {rows} r
            WHERE NOT EXISTS (SELECT 1 FROM dim_period p WHERE p.period_key = r.period_key)"""
    )


def _drop_views_not_in(con: duckdb.DuckDBPyConnection, defined: set[str]) -> None:
    """Drop the main schema's views that no file of schemas/views/ defines any more."""
    for (name,) in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main' AND database_name = current_database()"
    ).fetchall():
        if name not in defined:
            con.execute(f"DROP VIEW main.{identifier(name)}")


def _applied(con: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint of the definitions last applied to this database, if any."""
    if not con.execute("SELECT 1 FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = 'duban_meta'").fetchone():
        return None
    row = con.execute("SELECT value FROM duban_meta WHERE key = 'definitions_applied'").fetchone()
    return row[0] if row else None


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


def _waves(con: duckdb.DuckDBPyConnection, skip: set[int]) -> list[list[int]]:
    """Reports to load, in waves: a wave holds at most one report per publisher and period, oldest first."""
    rows = con.execute(
        """SELECT report_idx, row_number() OVER (PARTITION BY publisher, period_key ORDER BY report_idx) AS wave
           FROM rows_reports ORDER BY wave, report_idx"""
    ).fetchall()
    waves: dict[int, list[int]] = {}
    for idx, wave in rows:
        if idx not in skip:
            waves.setdefault(wave, []).append(idx)
    return [waves[w] for w in sorted(waves)]


def _load_wave(con: duckdb.DuckDBPyConnection, indices: list[int]) -> dict[int, int]:
    """Load one wave of reports set-based; returns report_idx → new report_key."""
    con.execute("CREATE OR REPLACE TEMP TABLE wave AS SELECT * FROM rows_reports WHERE report_idx IN (SELECT unnest(?::JSON::BIGINT[]))", [json_list(indices)])
    con.execute(
        """CREATE OR REPLACE TEMP TABLE replaced AS
           SELECT d.report_key AS old_key, w.report_idx FROM dim_report d
           JOIN wave w ON d.publisher = w.publisher AND d.period_key = w.period_key WHERE d.status = 'loaded'"""
    )
    con.execute(
        """DELETE FROM bridge_target_department b USING fact_target_progress f
           WHERE f.report_key IN (SELECT old_key FROM replaced)
             AND b.target_key = f.target_key AND b.period_key = f.period_key"""
    )
    con.execute("DELETE FROM fact_target_progress WHERE report_key IN (SELECT old_key FROM replaced)")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE new_keys AS
           SELECT report_idx, nextval('report_key_seq')::INTEGER AS report_key FROM (SELECT report_idx FROM wave ORDER BY report_idx)"""
    )
    con.execute(
        """INSERT INTO dim_report (report_key, source_file, sha256, publisher, period_key, title, encoding, reader,
               file_modified_at, records_read, accepted, quarantined, skipped_lines, status, loaded_at,
               pipeline_version, derived_sha256)
           SELECT n.report_key, w.source_file, w.sha256, w.publisher, w.period_key, w.title, w.encoding, w.reader,
               w.file_modified_at, w.records_read, w.accepted, w.quarantined, w.skipped_lines, 'loaded', now()::TIMESTAMP,
               w.pipeline_version, w.derived_sha256
           FROM wave w JOIN new_keys n USING (report_idx) ORDER BY n.report_key"""
    )
    con.execute(
        """UPDATE dim_report SET status = 'superseded', superseded_by = n.report_key
           FROM replaced r JOIN new_keys n USING (report_idx) WHERE dim_report.report_key = r.old_key"""
    )
    # Keys are numbered in the order of the rows nextval() is computed over (DuckDB computes it before an outer
    # ORDER BY): period first, then the natural key, so that periods loaded together in one wave get the keys
    # they get when loaded one by one.
    con.execute(
        """INSERT INTO dim_leader BY NAME
            SELECT nextval('leader_key_seq') AS leader_key, publisher, leader_name FROM (
                SELECT * FROM (
                    SELECT DISTINCT ON (s.publisher, s.leader_name) s.publisher, s.leader_name, w.period_key
                    FROM rows_leaders s JOIN wave w USING (report_idx)
                    WHERE NOT EXISTS (SELECT 1 FROM dim_leader d WHERE d.publisher = s.publisher AND d.leader_name = s.leader_name)
                    ORDER BY s.publisher, s.leader_name, s.report_idx)
                ORDER BY period_key, publisher, leader_name)"""
    )
    con.execute(
        """INSERT INTO dim_department BY NAME
            SELECT nextval('department_key_seq') AS department_key, publisher, department_name FROM (
                SELECT * FROM (
                    SELECT DISTINCT ON (s.publisher, s.department_name) s.publisher, s.department_name, w.period_key
                    FROM rows_departments s JOIN wave w USING (report_idx)
                    WHERE NOT EXISTS (SELECT 1 FROM dim_department d
                                      WHERE d.publisher = s.publisher AND d.department_name = s.department_name)
                    ORDER BY s.publisher, s.department_name, s.report_idx)
                ORDER BY period_key, publisher, department_name)"""
    )
    con.execute(
        """INSERT INTO dim_target BY NAME
            SELECT nextval('target_key_seq') AS target_key, publisher, plan_year, target_no, 0 AS version, target_text,
                   text_normalized, period_key AS valid_from_period, NULL AS valid_to_period
            FROM (
                SELECT * FROM (
                    SELECT DISTINCT ON (s.publisher, s.plan_year, s.target_no, s.text_normalized)
                           s.*, w.period_key
                    FROM rows_targets s JOIN wave w USING (report_idx)
                    WHERE NOT EXISTS (SELECT 1 FROM dim_target d
                                      WHERE d.publisher = s.publisher AND d.plan_year = s.plan_year
                                        AND d.target_no = s.target_no AND d.text_normalized = s.text_normalized)
                    ORDER BY s.publisher, s.plan_year, s.target_no, s.text_normalized, s.report_idx)
                ORDER BY period_key, publisher, plan_year, target_no, text_normalized)"""
    )
    targets = """(SELECT s.report_idx, s.target_no, d.target_key FROM rows_targets s JOIN dim_target d
                  ON d.publisher = s.publisher AND d.plan_year = s.plan_year AND d.target_no = s.target_no
                 AND d.text_normalized = s.text_normalized)"""
    con.execute(
        f"""INSERT INTO fact_target_progress BY NAME
            SELECT t.target_key, w.period_key, n.report_key, l.leader_key,
                   f.* EXCLUDE (report_idx, target_no, leader_name)
            FROM rows_facts f
            JOIN wave w USING (report_idx)
            JOIN new_keys n USING (report_idx)
            JOIN {targets} t USING (report_idx, target_no)
            JOIN dim_leader l ON l.publisher = w.publisher AND l.leader_name = f.leader_name"""
    )
    con.execute(
        f"""INSERT INTO bridge_target_department BY NAME
            SELECT t.target_key, w.period_key, d.department_key, b.position, b.is_lead
            FROM rows_bridge b
            JOIN wave w USING (report_idx)
            JOIN {targets} t USING (report_idx, target_no)
            JOIN dim_department d ON d.publisher = w.publisher AND d.department_name = b.department_name"""
    )
    con.execute(
        """INSERT INTO quarantine BY NAME
           SELECT nextval('quarantine_key_seq') AS quarantine_key, * EXCLUDE (report_idx) FROM (
               SELECT q.report_idx, n.report_key, w.source_file, q.source_line,
                      q.target_no_text, q.reason, q.column_name, q.check_name, q.failure_value, q.raw_cells,
                      array_to_string(q.raw_cells, chr(9)) AS raw_text
               FROM rows_quarantine q JOIN wave w USING (report_idx) JOIN new_keys n USING (report_idx)
               ORDER BY q.report_idx, q.source_line)"""
    )
    publishers, years = con.execute(
        "SELECT list(DISTINCT publisher), list(DISTINCT year) FROM wave JOIN dim_period USING (period_key)"
    ).fetchone()
    _refresh_target_versions(con, publishers or [], years or [])
    keys = dict(con.execute("SELECT report_idx, report_key FROM new_keys").fetchall())
    con.execute("DROP TABLE wave; DROP TABLE replaced; DROP TABLE new_keys")
    return keys


def _refresh_target_versions(con: duckdb.DuckDBPyConnection, publishers: list[str], plan_years: list[int]) -> None:
    """Drop target versions no fact uses any more; renumber versions and their validity by first period used.

    Only these publishers' targets of these plan years: a period's facts all belong to targets of its
    own year, so loading or removing a period changes no other year's versions (and the work does
    not grow with the years of history).
    """
    chosen = "t.publisher IN (SELECT unnest(?::JSON::VARCHAR[])) AND t.plan_year IN (SELECT unnest(?::JSON::BIGINT[]))"
    con.execute(
        f"""DELETE FROM dim_target t WHERE {chosen}
           AND NOT EXISTS (SELECT 1 FROM fact_target_progress f WHERE f.target_key = t.target_key)""",
        [json_list(publishers), json_list(plan_years)],
    )
    con.execute(
        f"""UPDATE dim_target t
           SET version = o.version, valid_from_period = o.first_period, valid_to_period = o.next_period
           FROM (
               SELECT target_key,
                      row_number() OVER w AS version,
                      first_period,
                      lead(first_period) OVER w AS next_period
               FROM (
                   SELECT t.target_key, t.publisher, t.plan_year, t.target_no,
                          min(p.end_date) AS first_end, arg_min(p.period_key, p.end_date) AS first_period
                   FROM dim_target t
                   JOIN fact_target_progress f USING (target_key)
                   JOIN dim_period p ON p.period_key = f.period_key
                   WHERE {chosen}
                   GROUP BY ALL
               )
               WINDOW w AS (PARTITION BY publisher, plan_year, target_no ORDER BY first_end)
           ) o
           WHERE t.target_key = o.target_key
             AND (t.version, t.valid_from_period, t.valid_to_period)
                 IS DISTINCT FROM (o.version, o.first_period, o.next_period)""",
        [json_list(publishers), json_list(plan_years)],
    )


def _frames(staged: TableRows) -> dict[str, pl.DataFrame]:
    return {f"rows_{f.name}": getattr(staged, f.name) for f in fields(staged)}


def load_batch(con: duckdb.DuckDBPyConnection, staged: TableRows) -> dict[int, int]:
    """Load a batch of staged reports, oldest first, inside the caller's transaction; returns report_idx → report_key.

    Within a publisher and period a later report replaces the facts of an earlier one, which stays
    as superseded.
    """
    keys: dict[int, int] = {}
    with _registered(con, _frames(staged)):
        add_periods(con, "rows_periods")
        for wave in _waves(con, set()):
            keys.update(_load_wave(con, wave))
    return keys


def delete_reports(con: duckdb.DuckDBPyConnection, period_key: str, publishers: list[str | None]) -> None:
    """Remove every report of these publishers' period (None: reports with no publisher) with its facts,
    department links and quarantine rows: four statements for all of them, however many publishers."""
    names = [p for p in publishers if p is not None]
    unknown = None in publishers
    if not names and not unknown:
        return
    chosen = "(publisher IN (SELECT unnest(?::JSON::VARCHAR[])) OR (publisher IS NULL AND ?))"
    con.execute(
        """DELETE FROM bridge_target_department WHERE period_key = ?
           AND target_key IN (SELECT target_key FROM dim_target WHERE publisher IN (SELECT unnest(?::JSON::VARCHAR[])))""",
        [period_key, json_list(names)],
    )
    reports = f"(SELECT report_key FROM dim_report WHERE period_key = ? AND {chosen})"
    con.execute(f"DELETE FROM fact_target_progress WHERE report_key IN {reports}", [period_key, json_list(names), unknown])
    con.execute(f"DELETE FROM quarantine WHERE report_key IN {reports}", [period_key, json_list(names), unknown])
    con.execute(f"DELETE FROM dim_report WHERE period_key = ? AND {chosen}", [period_key, json_list(names), unknown])


def drop_unused(con: duckdb.DuckDBPyConnection, publishers: list[str], plan_year: int) -> None:
    """Remove target versions (of plan_year: the period's), leaders, departments and periods that nothing refers to any more."""
    _refresh_target_versions(con, publishers, [plan_year])
    con.execute(
        """DELETE FROM dim_leader l WHERE l.publisher IN (SELECT unnest(?::JSON::VARCHAR[]))
           AND NOT EXISTS (SELECT 1 FROM fact_target_progress f WHERE f.leader_key = l.leader_key)""",
        [json_list(publishers)],
    )
    con.execute(
        """DELETE FROM dim_department d WHERE d.publisher IN (SELECT unnest(?::JSON::VARCHAR[]))
           AND NOT EXISTS (SELECT 1 FROM bridge_target_department b WHERE b.department_key = d.department_key)""",
        [json_list(publishers)],
    )
    con.execute(
        """DELETE FROM dim_period p WHERE NOT EXISTS (SELECT 1 FROM dim_report r WHERE r.period_key = p.period_key)
           AND NOT EXISTS (SELECT 1 FROM fact_target_progress f WHERE f.period_key = p.period_key)"""
    )


def record_failed_report(
    con: duckdb.DuckDBPyConnection,
    source_file: str,
    sha256: str,
    period_key: str | None,
    error: str,
    publisher: str | None = None,
    modified_at=None,
) -> None:
    """Note a report that could not be loaded (inside the caller's transaction)."""
    con.execute(
        """INSERT INTO dim_report (report_key, source_file, sha256, publisher, period_key, file_modified_at, status, error,
               loaded_at, pipeline_version)
           VALUES (nextval('report_key_seq'), ?, ?, ?, ?, ?, 'failed', ?, now()::TIMESTAMP, ?)""",
        [source_file, sha256, publisher, period_key, modified_at, error, pipeline_version()],
    )


_BUILD_WIDE: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {}


@contextmanager
def build_wide(con: duckdb.DuckDBPyConnection, verify: Callable[[duckdb.DuckDBPyConnection], None]) -> Iterator[None]:
    """Within the block, transaction(con) is part of the caller's one transaction (a DuckLake snapshot), and
    verify(con) runs where it would have committed."""
    _BUILD_WIDE[id(con)] = verify
    try:
        yield
    finally:
        _BUILD_WIDE.pop(id(con), None)


def in_build_wide(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether con is inside build_wide (a failed statement then aborts the whole build's transaction)."""
    return id(con) in _BUILD_WIDE


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed if the block ends normally, rolled back otherwise (within build_wide: part of that one)."""
    verify = _BUILD_WIDE.get(id(con))
    if verify is not None:
        yield
        verify(con)
        return
    with _transaction(con):
        yield
