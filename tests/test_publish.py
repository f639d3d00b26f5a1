"""Published snapshots: a reader in another process holds the warehouse open across builds."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from pipelines.publish import publish, working_path
from tests.conftest import SEED, run_build
from tests.report_writers import sample_records, write_text

HOLD_READER = Path(__file__).parent / "helpers" / "hold_reader.py"


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.05)


def test_reader_held_open_across_three_builds(tmp_path: Path) -> None:
    raw, warehouse, home, control = tmp_path / "raw", tmp_path / "w" / "duban.duckdb", tmp_path / "home", tmp_path / "ctl"
    raw.mkdir()
    control.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    assert run_build(raw, warehouse, home).returncode == 0
    reader = subprocess.Popen(
        [sys.executable, str(HOLD_READER), str(warehouse), str(control)], stdout=subprocess.PIPE, text=True
    )
    try:
        _wait_for(control / "ready")
        for n, quarter in enumerate(["二季度", "三季度", "四季度"], start=2):
            title = f"测试市人民政府2021年责任目标第{quarter}工作推进情况一览表"
            write_text(raw / f"test-2021-Q{n}.txt", title, sample_records(n=40, start=1, seed=n))
            build = run_build(raw, warehouse, home)
            assert build.returncode == 0, build.stdout + build.stderr
            (control / f"reconnect-{n}").write_text("1")
            _wait_for(control / f"seen-{n}.json")
            assert json.loads((control / f"seen-{n}.json").read_text()) == [f"2021Q{q}" for q in range(1, n + 1)]
    finally:
        (control / "stop").write_text("1")
        out, _ = reader.communicate(timeout=60)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == []
    assert result["inconsistent"] == []
    assert result["polls"] > 10


def test_an_open_reader_keeps_its_snapshot(tmp_path: Path) -> None:
    published = tmp_path / "duban.duckdb"
    working = working_path(published)
    working.parent.mkdir(parents=True)
    with duckdb.connect(str(working)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS v")
    publish(published)
    old = duckdb.connect(str(published), read_only=True)
    with duckdb.connect(str(working)) as con:
        con.execute("INSERT INTO t VALUES (2)")
    publish(published)
    assert old.execute("SELECT count(*) FROM t").fetchone() == (1,)  # the file it opened, unchanged
    old.close()
    with duckdb.connect(str(published), read_only=True) as new:
        assert new.execute("SELECT count(*) FROM t").fetchone() == (2,)
    assert not list(tmp_path.glob(".duban.duckdb.publishing-*"))
