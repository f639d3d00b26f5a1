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


def _replace_dir(new: Path, target: Path) -> None:
    """Put a freshly written directory in place of target, never leaving target half-written."""
    retired = target.with_name(f".{target.name}.retired-{os.getpid()}")
    if target.exists():
        os.replace(target, retired)
    os.replace(new, target)
    shutil.rmtree(retired, ignore_errors=True)


def export_parquet(published: Path, periods: list[str] | None = None) -> dict[str, int]:
    """Write parquet/ beside the published file; returns rows written per table or view.

    Tables and views with a period_key are written as <name>/period_key=…/ directories, and only the
    given periods are rewritten (all of them when periods is None): adding a quarter costs the same
    whatever the history. The others are small and written whole as <name>.parquet.
    """
    root = published.parent / "parquet"
    root.mkdir(exist_ok=True)
    building = published.parent / f".parquet-building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    counts: dict[str, int] = {}
    with duckdb.connect(str(published), read_only=True) as con:
        names = [
            name
            for (name,) in con.execute(
                """SELECT table_name FROM duckdb_tables() WHERE NOT internal AND schema_name = 'main'
                   UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'
                   ORDER BY 1"""
            ).fetchall()
        ]
        by_period = {
            table
            for (table,) in con.execute(
                "SELECT DISTINCT table_name FROM duckdb_columns() WHERE column_name = 'period_key' AND NOT internal"
            ).fetchall()
        }
        all_periods = [p for (p,) in con.execute("SELECT period_key FROM dim_period ORDER BY 1").fetchall()]
        chosen = all_periods if periods is None else [p for p in periods if p in all_periods]
        for name in names:
            if name not in by_period:
                (counts[name],) = con.execute(f"SELECT count(*) FROM {_quoted(name)}").fetchone()
                con.execute(f"COPY {_quoted(name)} TO {_literal(building / (name + '.parquet'))} (FORMAT parquet)")
                continue
            (counts[name],) = con.execute(
                f"SELECT count(*) FROM {_quoted(name)} WHERE period_key IN (SELECT unnest($p::VARCHAR[]))",
                {"p": chosen},
            ).fetchone()
            con.execute(
                f"COPY (SELECT * FROM {_quoted(name)} WHERE period_key IN (SELECT unnest($p::VARCHAR[]))) "
                f"TO {_literal(building / name)} (FORMAT parquet, PARTITION_BY (period_key))",
                {"p": chosen},
            )
    for name in names:
        if name not in by_period:
            os.replace(building / f"{name}.parquet", root / f"{name}.parquet")
            continue
        (root / name).mkdir(exist_ok=True)
        for period in chosen:
            written = building / name / f"period_key={period}"
            if written.exists():  # a view may have no row for a period (no schedule changes, say)
                _replace_dir(written, root / name / f"period_key={period}")
            else:
                shutil.rmtree(root / name / f"period_key={period}", ignore_errors=True)
    shutil.rmtree(building, ignore_errors=True)
    return counts
