"""`duban export-lake`: a DuckDB-file warehouse moved into a DuckLake, history and all, builds that go on there,
the way back to a DuckDB file, and the refusals that leave everything as it was."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import duckdb

from pipelines.contracts import star_tables, unique_keys
from pipelines.targets import target_for
from pipelines.views import view_names
from tests.conftest import DUBAN, run_build
from tests.history_fixture import PUBLISHER, quarter
from tests.report_writers import write_text
from tests.test_lake import _rows

LAKE_ONLY = ("sequence:", "last_build", "definitions_applied")  # duban_meta keys each side writes for itself


def export(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed `duban export-lake` as a separate process."""
    return subprocess.run([str(DUBAN), "export-lake", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def _meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {k: v for k, v in con.execute("SELECT key, value FROM duban_meta").fetchall() if not k.startswith(LAKE_ONLY)}


def _same_warehouse(con: duckdb.DuckDBPyConnection, reference: duckdb.DuckDBPyConnection) -> None:
    """Every table and view holds the same rows (loaded_at included), duban_meta the same settings, tables the same comments."""
    for name in [*star_tables(), *view_names()]:
        assert _rows(con, name, set()) == _rows(reference, name, set()), name
    assert _meta(con) == _meta(reference)
    comments = ("SELECT table_name, comment FROM duckdb_tables() WHERE database_name = current_database() "
                "UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE database_name = current_database() "
                "AND NOT internal ORDER BY 1")
    assert con.execute(comments).fetchall() == reference.execute(comments).fetchall()


def _reconciles(con: duckdb.DuckDBPyConnection) -> None:
    """No key drawn twice, and every loaded report's facts and quarantine rows add up to the records it read."""
    for name, key in unique_keys().items():
        listed = ", ".join(f'"{c}"' for c in key)
        (doubled,) = con.execute(f'SELECT count(*) FROM (SELECT {listed} FROM "{name}" GROUP BY ALL HAVING count(*) > 1)').fetchone()
        assert doubled == 0, name
    broken = con.execute(
        """SELECT r.source_file FROM dim_report r WHERE r.status = 'loaded' AND r.records_read IS DISTINCT FROM
             (SELECT count(*) FROM fact_target_progress f WHERE f.report_key = r.report_key)
           + (SELECT count(*) FROM quarantine q WHERE q.report_key = r.report_key)""").fetchall()
    assert broken == []


def _add_quarter(raw: Path, records, year: int, label: str, title_part: str) -> None:
    """Add the next quarter of the same publisher's targets as a text report."""
    write_text(raw / "heze" / f"heze-{year}-{label}.txt", f"{PUBLISHER}{year}年经济社会发展责任目标{title_part}工作推进情况一览表",
               quarter(records, label, {}, set(), records))


def test_the_history_moves_into_a_postgresql_lake_builds_go_on_there_and_it_comes_back_as_a_file(
        history, lake_server, tmp_path: Path) -> None:
    run, quarters = history
    lake, data = lake_server.new_lake()
    moved = export("--warehouse", str(run.warehouse), "--to", lake, "--data-path", str(data), cwd=tmp_path)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    for name in star_tables():
        assert f"duban export-lake: {name}: " in moved.stdout
    summary = moved.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"duban export-lake: copied {run.warehouse} into ") and "fact_target_progress 216" in summary

    with duckdb.connect(str(run.warehouse), read_only=True) as file_con, target_for(lake).read() as lake_con:
        _same_warehouse(lake_con, file_con)
        assert lake_con.execute("SELECT count(*) FROM dim_report WHERE status = 'superseded'").fetchone()[0] == \
            file_con.execute("SELECT count(*) FROM dim_report WHERE status = 'superseded'").fetchone()[0]
        messages = [m for (m,) in lake_con.execute("SELECT commit_message FROM lake.snapshots() WHERE commit_message IS NOT NULL").fetchall()]
        before = {name: lake_con.execute(f'SELECT max({key[0]}) FROM "{name}"').fetchone()[0]
                  for name, key in unique_keys().items() if name in ("dim_report", "dim_target", "quarantine")}
    assert messages == [f"duban export-lake from {run.warehouse}"]  # one snapshot, naming the source

    # a build into the lake with a new quarter goes on from the copied counters
    raw = tmp_path / "raw"
    shutil.copytree(run.raw, raw)
    _add_quarter(raw, quarters["2021Q4"], 2022, "Q1", "第一季度")
    built = run_build(raw, lake, tmp_path / "home", "--data-path", str(data))
    assert built.returncode == run.returncode, built.stdout + built.stderr  # the two bad files fail again
    with target_for(lake).read() as con:
        _reconciles(con)
        (new_facts,) = con.execute("SELECT count(*) FROM v_progress WHERE period_key = '2022Q1'").fetchone()
        assert new_facts == 54
        (report,) = con.execute("SELECT report_key FROM dim_report WHERE period_key = '2022Q1' AND status = 'loaded'").fetchone()
        assert report > before["dim_report"]
        (new_targets,) = con.execute("SELECT min(target_key) FROM dim_target WHERE plan_year = 2022").fetchone()
        assert new_targets > before["dim_target"]
        assert con.execute("SELECT count(*) FROM fact_target_progress").fetchone()[0] == 216 + 54

    # and back to a DuckDB file that equals the lake and is a normal warehouse
    back = tmp_path / "out" / "duban.duckdb"
    back.parent.mkdir()
    returned = export("--from", lake, "--to", str(back), cwd=tmp_path)
    assert returned.returncode == 0, returned.stdout + returned.stderr
    assert "fact_target_progress 270" in returned.stdout.strip().splitlines()[-1]
    assert sorted(p.name for p in back.parent.iterdir()) == ["duban.duckdb"]  # no temporary file left behind
    with duckdb.connect(str(back), read_only=True) as file_con, target_for(lake).read() as lake_con:
        _same_warehouse(file_con, lake_con)
    status = subprocess.run([str(DUBAN), "status", "--warehouse", str(back)], capture_output=True, text=True, cwd=tmp_path)
    assert status.returncode == 0 and "270 facts" in status.stdout, status.stdout + status.stderr
    query = subprocess.run([str(DUBAN), "sql", "--warehouse", str(back), "SELECT count(*) AS n FROM v_progress WHERE period_key = '2022Q1'"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert query.returncode == 0 and "54" in query.stdout, query.stdout + query.stderr
    _add_quarter(raw, quarters["2021Q4"], 2022, "Q2", "上半年")
    again = run_build(raw, back, tmp_path / "home-file")
    assert again.returncode == run.returncode, again.stdout + again.stderr
    with duckdb.connect(str(back), read_only=True) as con:
        _reconciles(con)
        assert con.execute("SELECT count(*) FROM v_progress WHERE period_key = '2022Q2'").fetchone()[0] == 54
        assert con.execute("SELECT count(*) FROM fact_target_progress").fetchone()[0] == 270 + 54


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshots(lake: str) -> list[tuple]:
    with target_for(lake).read() as con:
        return con.execute("SELECT snapshot_id, commit_message FROM lake.snapshots() ORDER BY 1").fetchall()


def test_refusals_exit_2_and_change_nothing(history, tmp_path: Path) -> None:
    run, _ = history
    source = run.warehouse
    kept = _digest(source)
    lake, data = f"ducklake:{tmp_path / 'x.ducklake'}", str(tmp_path / "data")
    assert export("--warehouse", str(source), "--to", lake, "--data-path", data, cwd=tmp_path).returncode == 0
    snapshots = _snapshots(lake)

    # a lake that already holds a warehouse
    twice = export("--warehouse", str(source), "--to", lake, "--data-path", data, cwd=tmp_path)
    assert twice.returncode == 2 and "already holds a warehouse" in twice.stderr and "nothing was written" in twice.stderr
    assert _snapshots(lake) == snapshots

    # a source that is not a duban warehouse
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE dim_report (x INTEGER)")
    empty = f"ducklake:{tmp_path / 'y.ducklake'}"
    foreign = export("--warehouse", str(other), "--to", empty, "--data-path", str(tmp_path / "y-data"), cwd=tmp_path)
    assert foreign.returncode == 2 and "not a duban warehouse" in foreign.stderr, foreign.stderr
    assert not target_for(empty).exists()

    # a schema version this code does not know
    newer = tmp_path / "newer.duckdb"
    shutil.copy2(source, newer)
    with duckdb.connect(str(newer)) as con:
        con.execute("UPDATE duban_meta SET value = '99' WHERE key = 'schema_version'")
    refused = export("--warehouse", str(newer), "--to", empty, "--data-path", str(tmp_path / "y-data"), cwd=tmp_path)
    assert refused.returncode == 2 and "schema version 99, newer than" in refused.stderr, refused.stderr
    assert not target_for(empty).exists()
    with duckdb.connect(str(newer)) as con:  # an older one: to be migrated by a build first
        con.execute("UPDATE duban_meta SET value = '2' WHERE key = 'schema_version'")
    older = export("--warehouse", str(newer), "--to", empty, "--data-path", str(tmp_path / "y-data"), cwd=tmp_path)
    assert older.returncode == 2 and "schema version 2, older than" in older.stderr and "duban build" in older.stderr, older.stderr
    assert not target_for(empty).exists()

    # the way back onto an existing file
    taken = tmp_path / "taken.duckdb"
    shutil.copy2(source, taken)
    onto = export("--from", lake, "--to", str(taken), cwd=tmp_path)
    assert onto.returncode == 2 and "already exists" in onto.stderr, onto.stderr
    assert _digest(taken) == kept
    assert sorted(p.name for p in tmp_path.glob("*.duckdb*")) == ["newer.duckdb", "other.duckdb", "taken.duckdb"]
    assert _digest(source) == kept and _snapshots(lake) == snapshots
