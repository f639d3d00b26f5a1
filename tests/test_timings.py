"""`duban build --timings`: where a build's time went, per stage, in text and in --json."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from pipelines import timings
from tests.conftest import DUBAN, SEED
from tests.test_operator import duban_env

RUN_STAGES = {"read", "reshape and validate", "load", "checks", "publish", "export", "briefing"}


def build(root: Path, *options: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [str(DUBAN), "build", "--raw", str(root / "raw"), "--warehouse", str(root / "w" / "duban.duckdb"), *options],
        capture_output=True, text=True, env=duban_env(root / "home"), cwd=root, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, time.monotonic() - started


def test_a_build_accounts_for_its_time_stage_by_stage(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    shutil.copy(SEED, tmp_path / "raw")
    proc, wall = build(tmp_path, "--json")
    seconds = json.loads(proc.stdout)["timings"]
    assert RUN_STAGES | {"scan", "dagster start-up", "dagster bookkeeping"} <= set(seconds)
    assert all(value >= 0 for value in seconds.values()), seconds
    parts = sum(value for name, value in seconds.items() if name != "total")
    # the parts add up to the process's time so far, which the harness's wall time (start to exit) bounds
    assert abs(parts - seconds["total"]) < 0.05 * seconds["total"] + 0.01, seconds
    assert 0 < seconds["total"] <= wall, (seconds, wall)
    assert seconds["load"] > 0 and seconds["dagster bookkeeping"] > 0

    again, _ = build(tmp_path, "--timings")  # nothing new: no run, no Dagster
    lines = again.stdout.splitlines()
    shown = lines[lines.index("timings (this run, wall clock):") + 1 :]
    names = [line.split("  ")[1].strip() if line.startswith("  ") else line for line in shown]
    assert "dagster bookkeeping" not in " ".join(shown) and "load" not in names
    assert shown[-1].split()[0] == "total"


def test_without_the_option_the_summary_has_no_timings(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    shutil.copy(SEED, tmp_path / "raw")
    proc, _ = build(tmp_path)
    assert "timings" not in proc.stdout


def test_a_stage_inside_another_counts_for_itself_only() -> None:
    timings.reset()
    with timings.timed("load"):
        time.sleep(0.05)
        with timings.timed("checks"):
            time.sleep(0.3)
    seconds = timings.stage_seconds()
    # counted inclusively, load would be 0.35 s or more
    assert seconds["checks"] >= 0.3 and 0.05 <= seconds["load"] < 0.3, seconds
    timings.reset()
    assert timings.stage_seconds() == {}
