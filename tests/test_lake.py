"""The warehouse on DuckLake with its catalog in a real PostgreSQL: the same facts as a DuckDB file, one snapshot
per build, concurrent writers that converge to a sequential build, readers that never see half a report."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.contracts import star_tables
from pipelines.targets import target_for
from pipelines.views import view_names
from tests.conftest import DUBAN, SEED, run_build
from tests.history_fixture import PUBLISHER
from tests.report_writers import sample_records, write_text

IGNORED = {"loaded_at"}  # when a row was written: differs between any two builds


def _rows(con: duckdb.DuckDBPyConnection, name: str, drop: set[str] = IGNORED) -> list[tuple]:
    columns = [c for (c,) in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND table_name = ? "
        "ORDER BY column_index", [name]).fetchall() if c not in drop]
    if not columns:  # a view: its columns from a probe
        columns = [d[0] for d in con.execute(f'SELECT * FROM "{name}" LIMIT 0').description if d[0] not in drop]
    listed = ", ".join(f'"{c}"' for c in columns)
    return con.execute(f'SELECT {listed} FROM "{name}" ORDER BY ALL').fetchall()


def _lake_build(raw: Path, lake: str, data: Path, home: Path, *extra: str, env: dict | None = None):
    return run_build(raw, lake, home, "--data-path", str(data), *extra, env=env)


def test_the_history_in_a_ducklake_equals_the_same_build_into_a_duckdb_file(history, lake_server, tmp_path: Path) -> None:
    run, _ = history
    lake, data = lake_server.new_lake()
    built = _lake_build(run.raw, lake, data, tmp_path / "home")
    assert built.returncode == run.returncode == 1, built.stdout + built.stderr  # the two bad files fail on both
    totals = [line for line in run.stdout.splitlines() if "records read" in line]
    assert totals and totals == [line for line in built.stdout.splitlines() if "records read" in line]
    with duckdb.connect(str(run.warehouse), read_only=True) as file_con, target_for(lake).read() as lake_con:
        for name in [*star_tables(), *view_names()]:
            assert _rows(lake_con, name) == _rows(file_con, name), name
        (facts,) = lake_con.execute("SELECT count(*) FROM fact_target_progress").fetchone()
        assert facts == 4 * 54
        meta = dict(lake_con.execute("SELECT key, value FROM duban_meta").fetchall())
        assert meta["schema_version"] == dict(file_con.execute("SELECT key, value FROM duban_meta").fetchall())["schema_version"]
        comments = "SELECT table_name, comment FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1"
        assert lake_con.execute(comments).fetchall() == file_con.execute(comments).fetchall()
        snapshots = lake_con.execute("SELECT snapshot_id, commit_message FROM lake.snapshots() ORDER BY 1").fetchall()
    builds = [message for _, message in snapshots if message and message.startswith("duban build")]
    assert len(builds) == 1 and "heze-2021-Q1.txt" in builds[0] and "2021Q4" in builds[0]  # one build = one snapshot
    again = _lake_build(run.raw, lake, data, tmp_path / "home")
    assert "already in the warehouse and unchanged" in again.stdout
    with target_for(lake).read() as con:
        assert con.execute("SELECT count(*) FROM lake.snapshots()").fetchone()[0] == len(snapshots)  # nothing new: no snapshot
