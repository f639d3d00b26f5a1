"""Crash safety: a build killed with SIGKILL mid-read, mid-load or mid-publish loses nothing."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from assets.warehouse import STAR_TABLES
from tests.conftest import DUBAN, SEED, run_build
from tests.report_writers import sample_records, write_text

TABLES = STAR_TABLES


def snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    """Every table's rows, without load timestamps."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            t: con.execute(f"SELECT *{' EXCLUDE (loaded_at)' if t == 'dim_report' else ''} FROM {t} ORDER BY ALL").fetchall()
            for t in TABLES
        }


def counts(warehouse: Path) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def add_quarters(raw: Path) -> None:
    for n, word in [(2, "上半年"), (3, "前三季度")]:
        write_text(raw / f"test-2021-Q{n}.txt", f"测试市人民政府2021年责任目标{word}工作推进情况一览表",
                   sample_records(n=30, start=1, seed=n), ghosts=[(1, "900", "张三丰")] if n == 2 else ())


def kill_build_at(point: str, raw: Path, warehouse: Path, home: Path, pause_dir: Path) -> None:
    """Start `duban build`, wait until it reaches the pause point, and SIGKILL it there."""
    env = {**os.environ, "DAGSTER_HOME": str(home), "DUBAN_PAUSE_AT": point, "DUBAN_PAUSE_DIR": str(pause_dir)}
    proc = subprocess.Popen([str(DUBAN), "build", "--raw", str(raw), "--warehouse", str(warehouse)],
                            env=env, cwd=home.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = pause_dir / f"{point}.reached"
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, f"build ended before reaching {point}"
        assert time.monotonic() < deadline, f"build never reached {point}"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    marker.unlink()


@pytest.fixture(scope="module")
def clean_counts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Counts of an uninterrupted build of the seed plus two more quarters."""
    root = tmp_path_factory.mktemp("clean")
    raw = root / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    add_quarters(raw)
    run = run_build(raw, root / "duban.duckdb", root / "home")
    assert run.returncode == 0, run.stdout + run.stderr
    return counts(root / "duban.duckdb")


@pytest.mark.parametrize("point", ["read", "load", "publish"])
def test_killed_build_leaves_the_previous_warehouse_and_a_rerun_completes(
    point: str, tmp_path: Path, clean_counts: dict[str, int]
) -> None:
    raw, warehouse, home, pauses = tmp_path / "raw", tmp_path / "w" / "duban.duckdb", tmp_path / "home", tmp_path / "p"
    raw.mkdir()
    pauses.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    first = run_build(raw, warehouse, home)
    assert first.returncode == 0, first.stdout + first.stderr
    before = snapshot(warehouse)

    add_quarters(raw)
    kill_build_at(point, raw, warehouse, home, pauses)
    assert snapshot(warehouse) == before  # the published file is the previous consistent one

    rerun = run_build(raw, warehouse, home)  # the same Dagster instance, still usable
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert counts(warehouse) == clean_counts
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            """SELECT count(*) FROM dim_report r WHERE r.status = 'loaded'
               AND r.records_read <> (SELECT count(*) FROM fact_target_progress f WHERE f.report_key = r.report_key)
                                     + (SELECT count(*) FROM quarantine q WHERE q.report_key = r.report_key)"""
        ).fetchone() == (0,)
    assert not list(warehouse.parent.glob(".duban.duckdb.publishing-*"))
