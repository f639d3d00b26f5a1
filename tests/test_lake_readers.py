"""Readers on a DuckLake warehouse: `duban sql`, `duban status`, `duban report` and `duban serve` (Quack and the
PostgreSQL endpoint) answer from the lake's latest snapshot, and a served client sees a later build's commit."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.targets import target_for
from tests.conftest import DUBAN, SEED, run_build
from tests.report_writers import sample_records, write_text
from tests.test_serve import ServerOutput, client, free_port

TOKEN = "lake-reader-token-0123456789"
CITY = "济南市人民政府"


def _duban(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DUBAN_WAREHOUSE", "DUBAN_DATA_PATH")}
    return subprocess.run([str(DUBAN), *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def _lake_with_two_quarters(tmp_path: Path, lake: str, data: Path) -> Path:
    """The seed (菏泽 2021Q1) and one more city's 2021Q1 built into the lake; returns the raw folder."""
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    write_text(raw / "jinan-2021-Q1.txt", f"{CITY}2021年责任目标第一季度工作推进情况一览表", sample_records(20, seed=7))
    built = run_build(raw, lake, tmp_path / "home", "--data-path", str(data))
    assert built.returncode == 0, built.stdout + built.stderr
    return raw


def test_sql_status_and_report_answer_from_a_local_catalog_lake(tmp_path: Path) -> None:
    lake, data = f"ducklake:{tmp_path / 'w.ducklake'}", tmp_path / "lake-data"
    _lake_with_two_quarters(tmp_path, lake, data)
    with target_for(lake).read() as con:
        expected = con.execute("SELECT publisher, count(*) FROM v_progress GROUP BY 1 ORDER BY 1").fetchall()
    assert [n for _, n in expected] == [20, 54]

    answer = _duban("sql", "--warehouse", lake, "SELECT publisher, count(*) AS n FROM v_progress GROUP BY 1 ORDER BY 1",
                    cwd=tmp_path)
    assert answer.returncode == 0, answer.stderr
    rows = [line.split() for line in answer.stdout.splitlines()]
    for publisher, n in expected:
        assert [publisher, str(n)] in rows, answer.stdout
    refused = _duban("sql", "--warehouse", lake, "DELETE FROM fact_target_progress", cwd=tmp_path)
    assert refused.returncode != 0 and "refused DELETE" in refused.stderr

    status = _duban("status", "--warehouse", lake, "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr

    out = tmp_path / "pages"
    report = _duban("report", "--warehouse", lake, "--out", str(out), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    pages = sorted(p.name for p in out.rglob("*.html"))
    assert len(pages) == 2, pages
    page = next(out.rglob(f"{CITY}*/*.html"), None) or next(p for p in out.rglob("*.html") if CITY in str(p))
    assert CITY in page.read_text(encoding="utf-8")


def _stop_serve(proc: subprocess.Popen) -> None:
    """Stop a `duban serve` started in its own session: SIGTERM, then its whole process group after 60 s."""
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait(timeout=10)


@pytest.fixture
def lake_served(lake_server, tmp_path: Path):
    """`duban serve` with Quack and the PostgreSQL endpoint on a lake whose catalog is in PostgreSQL."""
    lake, data = lake_server.new_lake()
    raw = _lake_with_two_quarters(tmp_path, lake, data)
    port, pg_port = free_port(), free_port()
    env = {**os.environ, "DUBAN_TOKEN": TOKEN}
    env.pop("DUBAN_WAREHOUSE", None)
    proc = subprocess.Popen(
        [str(DUBAN), "serve", "--warehouse", lake, "--port", str(port), "--pg-port", str(pg_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path, start_new_session=True,
    )
    output = ServerOutput(proc)
    try:
        output.wait_for("duban serve: serving", timeout=180)
        yield lake, data, raw, port, pg_port, output
    finally:
        _stop_serve(proc)


def test_serve_on_a_lake_answers_quack_and_postgres_clients_and_follows_new_commits(lake_served, tmp_path: Path) -> None:
    psycopg = pytest.importorskip("psycopg")
    lake, data, raw, port, pg_port, output = lake_served
    quack = client(port, TOKEN)
    pg = psycopg.connect(host="127.0.0.1", port=pg_port, user="duban", password=TOKEN, dbname="duban", autocommit=True)
    try:
        with target_for(lake).read() as con:
            expected = con.execute("SELECT period_key, count(*) FROM v_progress GROUP BY 1 ORDER BY 1").fetchall()
        query = "SELECT period_key, count(*) FROM {} GROUP BY 1 ORDER BY 1"
        assert quack.execute(query.format("duban.v_progress")).fetchall() == expected
        assert [tuple(r) for r in pg.execute(query.format("v_progress")).fetchall()] == expected

        # a later quarter committed to the lake while both clients stay connected
        write_text(raw / "jinan-2021-Q2.txt", f"{CITY}2021年责任目标上半年工作推进情况一览表", sample_records(20, seed=8))
        built = run_build(raw, lake, tmp_path / "home", "--data-path", str(data))
        assert built.returncode == 0, built.stdout + built.stderr
        deadline = time.monotonic() + 120
        while True:
            periods = {p for (p,) in quack.execute("SELECT DISTINCT period_key FROM duban.v_progress").fetchall()}
            pg_periods = {p for (p,) in pg.execute("SELECT DISTINCT period_key FROM v_progress").fetchall()}
            if "2021Q2" in periods and "2021Q2" in pg_periods:
                break
            assert time.monotonic() < deadline, (periods, pg_periods)
            time.sleep(1)
        with target_for(lake).read() as con:
            now = con.execute("SELECT period_key, count(*) FROM v_progress GROUP BY 1 ORDER BY 1").fetchall()
        assert quack.execute(query.format("duban.v_progress")).fetchall() == now
        assert [tuple(r) for r in pg.execute(query.format("v_progress")).fetchall()] == now
        with pytest.raises(duckdb.Error):
            quack.execute("DELETE FROM duban.fact_target_progress")
    finally:
        quack.close()
        pg.close()


def test_the_changes_since_snapshot_query_names_what_a_reissue_changed(tmp_path: Path) -> None:
    lake, data = f"ducklake:{tmp_path / 'w.ducklake'}", tmp_path / "lake-data"
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    assert run_build(raw, lake, tmp_path / "home", "--data-path", str(data)).returncode == 0
    with target_for(lake).read() as con:
        (first,) = con.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()
    reissue = raw / "heze-2021-Q1-v2.txt"
    reissue.write_text(SEED.read_text(encoding="utf-8").replace("\t是\t", "\t否\t", 3), encoding="utf-8")
    os.utime(reissue, (time.time() + 60, time.time() + 60))  # newer: the current report
    assert run_build(raw, lake, tmp_path / "home").returncode == 0

    query = (Path(__file__).parent.parent / "warehouse" / "queries" / "changes_since_snapshot.sql").read_text(encoding="utf-8")
    assert query.count("VERSION => 1") == 3
    query_file = tmp_path / "changes.sql"
    query_file.write_text(query.replace("VERSION => 1", f"VERSION => {first}"), encoding="utf-8")
    answer = _duban("sql", "--warehouse", lake, "-f", str(query_file), cwd=tmp_path)
    assert answer.returncode == 0, answer.stderr
    rows = [line.split() for line in answer.stdout.splitlines()[2:-1]]
    assert answer.stdout.splitlines()[-1] == "(3 rows)", answer.stdout
    assert all(r[3:] == ["on_schedule", "behind"] for r in rows), rows
    with target_for(lake).read() as con:  # the same three targets, read directly: behind now, on schedule at the first build
        behind_now = {str(n) for (n,) in con.execute(
            "SELECT target_no FROM v_progress WHERE progress_status = 'behind'").fetchall()}
        on_schedule_then = {str(n) for (n,) in con.execute(
            f"SELECT t.target_no FROM (FROM fact_target_progress AT (VERSION => {first})) f "
            f"JOIN (FROM dim_target AT (VERSION => {first})) t USING (target_key) WHERE f.progress_status = 'on_schedule'"
        ).fetchall()}
    assert {r[2] for r in rows} <= behind_now & on_schedule_then


def test_a_reader_waits_for_a_local_catalog_another_process_holds(tmp_path: Path) -> None:
    """A .ducklake catalog file is one process at a time: `duban sql` started while another process holds it
    waits for its turn (the lake retry settings) and answers, instead of failing on DuckDB's file lock."""
    lake, data = f"ducklake:{tmp_path / 'w.ducklake'}", tmp_path / "lake-data"
    _lake_with_two_quarters(tmp_path, lake, data)
    holder = subprocess.Popen(
        [str(DUBAN.with_name("python")), "-c",
         "import sys, time; from pipelines.targets import target_for\n"
         f"con = target_for({lake!r}).connect(read_only=False)\n"
         "print('held', flush=True); time.sleep(4); con.close(); print('released', flush=True)"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        answer = _duban("sql", "--warehouse", lake, "SELECT count(*) AS n FROM v_progress", cwd=tmp_path)
        assert holder.stdout.readline().strip() == "released"  # the holder finished its turn first
    finally:
        holder.kill()
        holder.wait()
    assert answer.returncode == 0, answer.stderr
    assert "74" in answer.stdout.split()


def test_version_opens_a_local_catalog_only_when_it_changed(tmp_path: Path, monkeypatch) -> None:
    """Serving endpoints ask version() every half second; an unchanged local catalog file is not opened again."""
    from pipelines.targets.lake import LakeTarget

    lake, data = f"ducklake:{tmp_path / 'w.ducklake'}", tmp_path / "lake-data"
    _lake_with_two_quarters(tmp_path, lake, data)
    target = target_for(lake)
    opened = []
    real = LakeTarget._connect_once
    monkeypatch.setattr(LakeTarget, "_connect_once", lambda self, read_only: opened.append(read_only) or real(self, read_only))
    first = target.version()
    assert first is not None and opened == [True]
    assert [target.version() for _ in range(5)] == [first] * 5 and opened == [True]
    catalog = tmp_path / "w.ducklake"
    os.utime(catalog, ns=(catalog.stat().st_atime_ns, catalog.stat().st_mtime_ns + 1_000_000))
    assert target.version() == first and opened == [True, True]  # changed on disk: asked again


def test_serve_keeps_the_snapshot_it_has_while_the_lake_is_out_of_reach(tmp_path: Path) -> None:
    """The catalog file moved away under a serving process: clients keep getting the served rows, the server
    stays up, and no empty catalog is made in its place."""
    lake, data = f"ducklake:{tmp_path / 'w.ducklake'}", tmp_path / "lake-data"
    _lake_with_two_quarters(tmp_path, lake, data)
    port = free_port()
    env = {**os.environ, "DUBAN_TOKEN": TOKEN}
    env.pop("DUBAN_WAREHOUSE", None)
    proc = subprocess.Popen(
        [str(DUBAN), "serve", "--warehouse", lake, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path, start_new_session=True,
    )
    output = ServerOutput(proc)
    catalog, away = tmp_path / "w.ducklake", tmp_path / "away"
    try:
        output.wait_for("duban serve: serving", timeout=180)
        quack = client(port, TOKEN)
        query = "SELECT publisher, count(*) FROM duban.v_progress GROUP BY 1 ORDER BY 1"
        before = quack.execute(query).fetchall()
        assert [n for _, n in before] == [20, 54]
        away.mkdir()
        for path in tmp_path.glob("w.ducklake*"):
            path.rename(away / path.name)
        time.sleep(4)  # several polls of the missing catalog
        assert proc.poll() is None
        assert quack.execute(query).fetchall() == before
        assert not catalog.exists()
        quack.close()
    finally:
        _stop_serve(proc)


def test_a_postgresql_catalog_is_asked_for_its_version_at_most_every_poll_interval(lake_server, tmp_path: Path, monkeypatch) -> None:
    """Serving endpoints call version() every half second; a catalog in PostgreSQL is asked once per POLL_SECONDS."""
    from pipelines.targets import lake as lake_module

    lake, data = lake_server.new_lake()
    _lake_with_two_quarters(tmp_path, lake, data)
    target = target_for(lake)
    opened = []
    real = lake_module.LakeTarget._connect_once
    monkeypatch.setattr(lake_module.LakeTarget, "_connect_once", lambda self, read_only: opened.append(read_only) or real(self, read_only))
    monkeypatch.setattr(lake_module, "POLL_SECONDS", 1.0)
    first = target.version()
    assert first is not None and len(opened) == 1
    assert [target.version() for _ in range(5)] == [first] * 5 and len(opened) == 1
    time.sleep(1.1)
    assert target.version() == first and len(opened) == 2
