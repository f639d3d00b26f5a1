"""Write the descriptions of the table contracts, the view files and schemas/catalog.toml as COMMENTs on every table, view and column."""

from __future__ import annotations

import hashlib
import json
import tomllib
from functools import cache

import duckdb

from pipelines.contracts import ddl, descriptions, identifier
from pipelines.views import views
from schemas import schema_file


@cache
def catalog() -> dict:
    """Every description: shared column texts, and per table or view its comment and column texts.

    Tables are described by their contracts (schemas/tables/*.toml), views by their files
    (schemas/views/*.sql); column texts shared by name come from schemas/catalog.toml.
    """
    described = {name: {"comment": comment, "columns": columns} for name, (comment, columns) in descriptions().items()}
    described |= {v.name: {"comment": v.comment, "columns": v.columns} for v in views()}
    return {"columns": tomllib.loads(schema_file("catalog.toml"))["columns"], "tables": described}


def catalog_fingerprint() -> str:
    """A hash of every description: comments are re-applied when one changes."""
    return hashlib.sha256(json.dumps(catalog(), sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def schema_fingerprint() -> str:
    """A hash of the tables' and views' definitions: a recreated table or view has lost its comments."""
    return hashlib.sha256(ddl().encode("utf-8")).hexdigest()[:16]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def apply_comments(con: duckdb.DuckDBPyConnection, view_columns: bool = True) -> None:
    """COMMENT every described table, view and column that exists in the database (a view's columns only with
    view_columns: a DuckLake keeps no comment on them)."""
    shared = catalog()["columns"]
    kinds = dict(
        con.execute(
            """SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE NOT internal
               UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() WHERE NOT internal"""
        ).fetchall()
    )
    columns = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal ORDER BY table_name, column_index"
    ).fetchall()
    statements = []
    for name, spec in catalog()["tables"].items():
        if name in kinds:
            statements.append(f"COMMENT ON {kinds[name]} {identifier(name)} IS {_literal(spec['comment'])};")
    for table, column in columns:
        if not view_columns and kinds.get(table) == "VIEW":
            continue
        own = catalog()["tables"].get(table, {}).get("columns", {})
        text = own.get(column) or shared.get(column)
        if text:
            statements.append(f"COMMENT ON COLUMN {identifier(table)}.{identifier(column)} IS {_literal(text)};")
    if statements:  # about 250 statements, sent as one script
        con.execute("\n".join(statements))
