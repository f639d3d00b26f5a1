"""Export every warehouse table and view to Parquet for tools without a DuckDB driver."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _text_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _replace_dir(new: Path, target: Path) -> None:
    """Put a freshly written directory in place of target, never leaving target half-written."""
    retired = target.with_name(f".{target.name}.retired-{os.getpid()}")
    if target.exists():
        os.replace(target, retired)
    os.replace(new, target)
    shutil.rmtree(retired, ignore_errors=True)


def _objects(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Every table and view of the main schema with its column names."""
    objects: dict[str, set[str]] = {}
    for table, column in con.execute(
        """SELECT c.table_name, c.column_name FROM duckdb_columns() c
           WHERE NOT c.internal AND c.schema_name = 'main' ORDER BY c.table_name"""
    ).fetchall():
        objects.setdefault(table, set()).add(column)
    return objects


def export_parquet(published: Path, periods: list[str] | None = None) -> dict[str, int]:
    """Write parquet/ beside the published file; returns rows written per table or view.

    Tables and views with a period_key are written as <name>/period_key=…/ directories, those with a
    plan_year but no period as <name>/plan_year=…/, and only the given periods (and their plan years)
    are rewritten (everything when periods is None): adding a quarter costs the same whatever the
    history. The rest are small and written whole as <name>.parquet.
    """
    root = published.parent / "parquet"
    root.mkdir(exist_ok=True)
    building = published.parent / f".parquet-building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    counts: dict[str, int] = {}
    written: list[tuple[str, str, list]] = []
    with duckdb.connect(str(published), read_only=True) as con:
        objects = _objects(con)
        known = dict(con.execute("SELECT period_key, year FROM dim_period").fetchall())
        chosen = sorted(known) if periods is None else sorted(p for p in periods if p in known)
        years = sorted({known[p] for p in chosen})
        for name, columns in objects.items():
            # literal lists (period keys and years come from dim_period) so DuckDB pushes the filters down;
            # plan_year partitions the views' windows, so filtering on it first keeps the work to those years
            period_list = ", ".join(_text_literal(p) for p in chosen) or "NULL"
            year_list = ", ".join(str(int(y)) for y in years) or "NULL"
            if "period_key" in columns:
                column, values = "period_key", chosen
                where = f"period_key IN ({period_list})" + (
                    f" AND plan_year IN ({year_list})" if "plan_year" in columns else ""
                )
            elif "plan_year" in columns:
                column, values = "plan_year", years
                where = f"plan_year IN ({year_list})"
            else:
                (counts[name],) = con.execute(f"SELECT count(*) FROM {_quoted(name)}").fetchone()
                con.execute(f"COPY {_quoted(name)} TO {_literal(building / (name + '.parquet'))} (FORMAT parquet)")
                continue
            con.execute(f"CREATE OR REPLACE TEMP TABLE export_rows AS SELECT * FROM {_quoted(name)} WHERE {where}")
            (counts[name],) = con.execute("SELECT count(*) FROM export_rows").fetchone()
            con.execute(
                f"COPY export_rows TO {_literal(building / name)} (FORMAT parquet, PARTITION_BY ({column}))"
            )
            written.append((name, column, values))
    for name in objects:
        if (building / f"{name}.parquet").exists():
            os.replace(building / f"{name}.parquet", root / f"{name}.parquet")
    for name, column, values in written:
        (root / name).mkdir(exist_ok=True)
        for value in values:
            fresh = building / name / f"{column}={value}"
            if fresh.exists():
                _replace_dir(fresh, root / name / f"{column}={value}")
            else:  # no rows for it any more (no schedule changes that period, say)
                shutil.rmtree(root / name / f"{column}={value}", ignore_errors=True)
    shutil.rmtree(building, ignore_errors=True)
    return counts
