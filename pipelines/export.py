"""Export every warehouse table and view to Parquet for tools without a DuckDB driver."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

PARTITIONED = {"fact_target_progress": "period_key"}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export_parquet(published: Path) -> dict[str, int]:
    """Write parquet/<name>.parquet beside the published file (the fact as parquet/<fact>/period_key=…/),
    replacing the previous export whole; returns rows written per table or view."""
    target = published.parent / "parquet"
    building = published.parent / f".parquet-building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
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
        for name in names:
            (counts[name],) = con.execute(f"SELECT count(*) FROM {_quoted(name)}").fetchone()
            if name in PARTITIONED:
                con.execute(
                    f"COPY {_quoted(name)} TO {_literal(building / name)} "
                    f"(FORMAT parquet, PARTITION_BY ({_quoted(PARTITIONED[name])}))"
                )
            else:
                con.execute(f"COPY {_quoted(name)} TO {_literal(building / (name + '.parquet'))} (FORMAT parquet)")
    retired = published.parent / f".parquet-retired-{os.getpid()}"
    if target.exists():
        os.replace(target, retired)
    os.replace(building, target)
    shutil.rmtree(retired, ignore_errors=True)
    return counts
