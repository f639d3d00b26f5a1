"""Bring a warehouse of an older schema up to this code's schema, inside the working database."""

from __future__ import annotations

import duckdb

from pipelines.errors import DubanError
from pipelines.contracts import tables, tables_ddl
from pipelines.contracts import table as table_contract

SCHEMA_VERSION = 3
# Tables of schema 1 in an order where no table is dropped before a table that references it.
_SCHEMA_1_TABLES = [
    "fact_target_progress",
    "bridge_target_department",
    "quarantine",
    "dim_target",
    "dim_leader",
    "dim_department",
    "dim_report",
    "dim_period",
]


class NewerWarehouseError(DubanError):
    """The warehouse was written by a newer duban whose schema this code does not know."""


def schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The warehouse's schema version: None for an empty database, 1 for a warehouse from before duban_meta."""
    tables = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
    if "duban_meta" in tables:
        row = con.execute("SELECT value FROM duban_meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 1
    return 1 if "fact_target_progress" in tables else None


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [c for (c,) in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? ORDER BY column_index",
        [table],
    ).fetchall()]


def _rebuild(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    """Recreate tables from this code's DDL, rows and keys unchanged, new columns filled by DERIVATIONS.

    DuckDB cannot drop a constraint or add a CHECK to a table, so each table is copied aside,
    dropped and created again. tables must be ordered so that no table is dropped before one that
    references it.
    """
    old_columns = {table: _columns(con, table) for table in tables}
    for table in tables:
        con.execute(f'CREATE TEMP TABLE "migrate_{table}" AS FROM main."{table}"')
    for table in tables:
        con.execute(f'DROP TABLE main."{table}"')
    con.execute(tables_ddl())
    for table in reversed(tables):
        select = []
        for column in _columns(con, table):
            if column in old_columns[table]:
                select.append(f'"{column}"')
            elif (backfill := table_contract(table).column(column).backfill):
                select.append(f'{backfill} AS "{column}"')
        con.execute(f'INSERT INTO main."{table}" BY NAME SELECT {", ".join(select)} FROM "migrate_{table}"')
        con.execute(f'DROP TABLE "migrate_{table}"')


MIGRATIONS = {
    1: (
        "recreate the tables without FOREIGN KEY clauses (references are checked after each load)",
        lambda con: _rebuild(con, _SCHEMA_1_TABLES),
    ),
    2: (
        "add fact_target_progress.status_text and progress_status, derived from on_schedule "
        "(TRUE → 是/on_schedule, FALSE → 否/behind); on_schedule may now be NULL (status other); "
        "add dim_report.pipeline_version and derived_sha256 (the next build re-derives every report)",
        lambda con: _rebuild(con, ["fact_target_progress", "dim_report"]),
    ),
}


def _table_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Table of schema main → its columns in order (views left out)."""
    existing: dict[str, list[str]] = {}
    for table, column in con.execute(
        """SELECT table_name, column_name FROM duckdb_columns()
           WHERE schema_name = 'main' AND NOT internal
             AND table_name IN (SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main')
           ORDER BY table_name, column_index"""
    ).fetchall():
        existing.setdefault(table, []).append(column)
    return existing


def _added_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Table → contract columns its current version lacks (additive changes, migrated without a version step)."""
    existing = _table_columns(con)
    return {
        t.name: missing
        for t in tables()
        if t.name in existing and (missing := [c for c in t.column_names if c not in existing[t.name]])
    }


def _unknown_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Table → columns it has that no contract of this code declares (written by a newer duban)."""
    existing = _table_columns(con)
    return {
        t.name: extra
        for t in tables()
        if t.name in existing and (extra := [c for c in existing[t.name] if c not in t.column_names])
    }


def _describe_added(table: str, columns: list[str]) -> str:
    filled = [f"{c} = {table_contract(table).column(c).backfill or 'NULL'}" for c in columns]
    return f"add {table}.{', '.join(columns)} (rows loaded before: {'; '.join(filled)})"


def pending_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """What upgrade() would do to this database, one line per step; empty when it is current."""
    version = schema_version(con)
    if version is None:
        return []
    if version > SCHEMA_VERSION:
        raise NewerWarehouseError(
            f"the warehouse has schema version {version}, newer than this duban's {SCHEMA_VERSION}; "
            "upgrade duban (git pull && sh bootstrap.sh) or point --warehouse at another file"
        )
    steps = [f"schema {v} → {v + 1}: {MIGRATIONS[v][0]}" for v in range(version, SCHEMA_VERSION)]
    if version == SCHEMA_VERSION and (unknown := _unknown_columns(con)):
        # loading with this code would fill those columns with NULL in every reloaded row
        columns = "; ".join(f"{table}.{', '.join(names)}" for table, names in unknown.items())
        raise NewerWarehouseError(
            f"the warehouse has columns this duban's contracts do not declare ({columns}): it was written by a "
            "newer duban or a changed schemas/tables/; use that code (git pull && sh bootstrap.sh) or point "
            "--warehouse at another file"
        )
    if version == SCHEMA_VERSION:
        steps += [_describe_added(t, columns) for t, columns in _added_columns(con).items()]
    return steps


def upgrade(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Migrate the database to this code's contracts in one transaction; returns the steps taken (empty if none).

    Versioned steps (MIGRATIONS) first; then a column a contract adds is added to its table, filled in
    older rows by the column's `backfill` expression.
    """
    steps = pending_migrations(con)
    version = schema_version(con)
    if steps:
        con.execute("BEGIN TRANSACTION")
        try:
            for v in range(version, SCHEMA_VERSION):
                MIGRATIONS[v][1](con)
            added = _added_columns(con)
            if added:
                _rebuild(con, [t.name for t in reversed(tables()) if t.name in added])
            _record_version(con)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    return steps


def _record_version(con: duckdb.DuckDBPyConnection, create: bool = True) -> None:
    if create:
        con.execute(tables_ddl())
    con.execute("DELETE FROM duban_meta WHERE key = 'schema_version'")
    con.execute("INSERT INTO duban_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])


def mark_current(con: duckdb.DuckDBPyConnection) -> None:
    """Record SCHEMA_VERSION in a database whose schema was just created by this code."""
    if schema_version(con) is None or not con.execute(
        "SELECT 1 FROM duban_meta WHERE key = 'schema_version'"
    ).fetchone():
        _record_version(con, create=False)  # the caller has just created the tables
