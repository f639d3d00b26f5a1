"""Builds started at the same time wait for each other: Dagster's storage and the warehouse stay sound."""

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.instance.ref import InstanceRef

from tests.conftest import DUBAN, SEED, run_build

WAITING = re.compile(r"^duban: waiting for the build of PID (\d+) \(started \d\d:\d\d:\d\d\)…$")


def _start_build(raw: Path, warehouse: Path, home: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DUBAN_RAW", "DUBAN_WAREHOUSE")}
    env["DAGSTER_HOME"] = str(home)
    return subprocess.Popen(
        [str(DUBAN), "build", "--raw", str(raw), "--warehouse", str(warehouse)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=home.parent,
    )


def _assert_dagster_storage_sound(home: Path) -> None:
    """One alembic revision per SQLite database, and the instance answers queries about its runs."""
    databases = list(home.rglob("*.db"))
    assert databases
    for db in databases:
        with sqlite3.connect(db) as con:
            if con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'").fetchone()[0]:
                assert con.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1, db
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        runs = instance.get_runs()
        assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS]
        assert instance.get_dynamic_partitions("period") == ["2021Q1"]


@pytest.mark.slow
def test_three_builds_at_once_on_a_new_home(tmp_path: Path) -> None:
    waits = []
    for trial in range(10):
        root = tmp_path / f"trial{trial}"
        raw, warehouse, home = root / "raw", root / "w" / "duban.duckdb", root / "home"
        raw.mkdir(parents=True)
        shutil.copy2(SEED, raw / SEED.name)
        builds = [_start_build(raw, warehouse, home) for _ in range(3)]
        outputs = [build.communicate(timeout=600) for build in builds]
        for build, (out, err) in zip(builds, outputs):
            assert build.returncode == 0, f"trial {trial}:\n{out}\n{err}"
            assert "Traceback" not in err, err
        assert sum("building 1 period(s) (2021Q1)" in out for out, _ in outputs) == 1, outputs
        for out, _ in outputs:
            for line in out.splitlines():
                if line.startswith("duban: waiting"):
                    match = WAITING.match(line)
                    assert match, line
                    waits.append(int(match.group(1)))
                    assert waits[-1] in {build.pid for build in builds}

        fourth = run_build(raw, warehouse, home)
        assert fourth.returncode == 0, fourth.stdout + fourth.stderr
        assert "1 report(s) already in the warehouse and unchanged" in fourth.stdout
        assert fourth.query("SELECT count(*) FROM fact_target_progress") == [(54,)]
        assert fourth.query("SELECT count(*) FROM quarantine") == [(4,)]
        assert fourth.query("SELECT source_file, status FROM dim_report") == [("heze-2021-Q1.txt", "loaded")]
        _assert_dagster_storage_sound(home)
    assert waits, "no build ever had to wait for another"


def test_builds_of_different_warehouses_share_a_new_home(tmp_path: Path) -> None:
    """Two warehouses, one DAGSTER_HOME: the instance is initialised once, both builds load their report."""
    home = tmp_path / "home"
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    warehouses = [tmp_path / f"w{n}" / "duban.duckdb" for n in range(2)]
    builds = [_start_build(raw, warehouse, home) for warehouse in warehouses]
    for build in builds:
        out, err = build.communicate(timeout=600)
        assert build.returncode == 0, out + err
    for warehouse in warehouses:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM fact_target_progress").fetchone() == (54,)
    for db in home.rglob("*.db"):
        with sqlite3.connect(db) as con:
            if con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'").fetchone()[0]:
                assert con.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1, db
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        assert sorted(run.status.value for run in instance.get_runs()) == ["SUCCESS", "SUCCESS"]


HOLD_LOCK = """
import sys, time
from pathlib import Path
from pipelines.lock import build_lock
with build_lock(Path(sys.argv[1]), print):
    Path(sys.argv[2]).write_text("held")
    time.sleep(float(sys.argv[3]))
    Path(sys.argv[2]).write_text(repr(time.time()))  # released right after this
"""

DAGSTER_RUN = """
import sys
from pathlib import Path
import dagster as dg
from assets.definitions import BUILD_JOB, make_definitions
from assets.partitions import period_partitions
with dg.instance_for_test() as instance:
    instance.add_dynamic_partitions(period_partitions.name, ["2021Q1"])
    job = make_definitions(Path(sys.argv[1]), Path(sys.argv[2])).resolve_job_def(BUILD_JOB)
    result = job.execute_in_process(instance=instance, partition_key="2021Q1")
    sys.exit(0 if result.success else 1)
"""


def test_a_run_started_outside_duban_build_waits_for_the_build_lock(raw_dir: Path, tmp_path: Path) -> None:
    """Runs of the sensor, schedules or dagster dev take the same lock as `duban build` before they write."""
    warehouse = tmp_path / "w" / "duban.duckdb"
    marker = tmp_path / "held"
    holder = subprocess.Popen(
        [os.fspath(Path(os.sys.executable)), "-c", HOLD_LOCK, str(warehouse.parent / ".work"), str(marker), "15"]
    )
    try:
        while not marker.exists():
            assert holder.poll() is None
        run = subprocess.run(
            [os.fspath(Path(os.sys.executable)), "-c", DAGSTER_RUN, str(raw_dir), str(warehouse)],
            capture_output=True, text=True, timeout=300,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        released = float(marker.read_text())
        # the run published only after the holder let go of the lock
        assert warehouse.stat().st_mtime >= released
        with duckdb.connect(str(warehouse), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM fact_target_progress").fetchone() == (54,)
    finally:
        holder.kill()
        holder.wait()
