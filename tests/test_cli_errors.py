"""The command line ends in one line, never a traceback: Ctrl-C, a closed pipe, a setting that is not a number."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool, QueuePool

from pipelines.cli import quiet_interrupted_closes
from tests.conftest import DUBAN, REPO, SEED, run_build
from tests.test_operator import duban_env, write_corpus


def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(tmp_path: Path) -> None:
    raw, warehouse, home = tmp_path / "raw", tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    raw.mkdir()
    shutil.copy2(SEED, raw)
    assert run_build(raw, warehouse, home).returncode == 0
    piped = subprocess.run(
        f"'{DUBAN}' sql --warehouse '{warehouse}' --max-rows 100000 'SELECT * FROM range(100000)' | head -1",
        shell=True, capture_output=True, text=True, timeout=120,
    )
    assert piped.stdout.count("\n") == 1 and "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr, piped.stderr


def test_a_workers_setting_that_is_not_a_number_is_one_line(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw)
    proc = run_build(raw, tmp_path / "w" / "duban.duckdb", tmp_path / "home", env={"DUBAN_WORKERS": "abc"})
    assert proc.returncode == 2
    assert proc.stderr.strip() == "duban build: DUBAN_WORKERS must be a whole number (0: one per core), not 'abc'"
    assert not (tmp_path / "w" / "duban.duckdb").exists()


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("DUBAN_MAX_CELLS", "lots", "DUBAN_MAX_CELLS must be a whole number of 1 or more, not 'lots'"),
    ("DUBAN_MAX_EXPANDED_MB", "0", "DUBAN_MAX_EXPANDED_MB must be a whole number of 1 or more, not '0'"),
    ("DUBAN_PROGRESS_SECONDS", "-5", "DUBAN_PROGRESS_SECONDS must be a number of seconds of 0 or more, not '-5'"),
])
def test_a_bad_limit_or_progress_setting_is_refused_before_anything_is_read(tmp_path: Path, name: str, value: str,
                                                                            expected: str) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw)
    proc = run_build(raw, tmp_path / "w" / "duban.duckdb", tmp_path / "home", env={name: value})
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"duban build: {expected}"
    assert not (tmp_path / "w" / "duban.duckdb").exists()


def test_ctrl_c_during_a_build_says_so_in_one_line_and_the_next_build_completes(tmp_path: Path) -> None:
    raw = tmp_path / "corpus"
    write_corpus(raw)
    warehouse = tmp_path / "w" / "duban.duckdb"
    command = [str(DUBAN), "build", "--raw", str(raw), "--warehouse", str(warehouse)]
    env = duban_env(tmp_path / "home")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(4)  # well inside the build of 300 reports
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "interrupted; nothing was half-written" in err and "Traceback" not in err, err[-3000:]
    again = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "300 reports" in again.stdout or "already in the warehouse" in again.stdout


@pytest.mark.parametrize("pool", [QueuePool, NullPool])
def test_a_ctrl_c_inside_a_pooled_close_is_not_logged_as_a_traceback_but_still_raised(tmp_path: Path, caplog, pool) -> None:
    """Dagster's storages close SQLite connections through SQLAlchemy pools; duban's one line reports the interrupt."""
    quiet_interrupted_closes()
    engine = create_engine(f"sqlite:///{tmp_path / 'runs.db'}", poolclass=pool)

    def close_interrupted(connection) -> None:
        raise KeyboardInterrupt

    engine.dialect.do_close = close_interrupted
    with caplog.at_level(logging.DEBUG, logger="sqlalchemy.pool"), pytest.raises(KeyboardInterrupt):
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    assert "Closing connection" in caplog.text  # the pool's log is on: only the interrupted close is left out
    assert "Exception closing connection" not in caplog.text and "Traceback" not in caplog.text


def test_ctrl_c_inside_the_dagster_run_says_so_in_one_line_too(tmp_path: Path) -> None:
    """Dagster catches a Ctrl-C during its run and fails the running step; duban still reports an interrupt (130)."""
    raw = tmp_path / "corpus"
    write_corpus(raw)
    warehouse, home = tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    command = [str(DUBAN), "build", "--raw", str(raw), "--warehouse", str(warehouse)]
    env = duban_env(home)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**env, "DUBAN_PROGRESS_SECONDS": "0"},  # a progress line at every step of a stage
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    try:
        for line in proc.stderr:  # until a step of the run (reshaping, in the tidy_records asset) is under way
            seen.append(line)
            if line.startswith("duban: reshape and validate "):
                break
        proc.send_signal(signal.SIGINT)
        err = "".join(seen) + proc.stderr.read()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert any(line.startswith("duban: reshape and validate ") for line in seen), err[-2000:]
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "interrupted; nothing was half-written" in err and "Traceback" not in err, err[-3000:]
    again = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "300 reports" in again.stdout


def test_ctrl_c_while_dagster_creates_a_new_home_leaves_a_home_the_next_build_uses(tmp_path: Path) -> None:
    """Dagster never completes a SQLite database it finds begun: a Ctrl-C while it creates a new home's event log
    index waits until the index is whole, is then delivered, and the next build uses the home."""
    home = tmp_path / "home"
    script = """
import os, signal
from dagster._core.storage.event_log.schema import SqlEventLogStorageMetadata
create_all = SqlEventLogStorageMetadata.create_all
def interrupted(bind, *args, **kwargs):
    SqlEventLogStorageMetadata.tables["event_logs"].create(bind, checkfirst=True)
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C lands with one table of the index made
    return create_all(bind, *args, **kwargs)
SqlEventLogStorageMetadata.create_all = interrupted
from pipelines.instance import setting_up_instance
try:
    with setting_up_instance():
        print("not interrupted")
except KeyboardInterrupt:
    print("interrupted")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "DAGSTER_HOME": str(home)}, timeout=120,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal's would be
    assert proc.stdout.strip() == "interrupted", proc.stdout + proc.stderr
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw)
    build = run_build(raw, tmp_path / "w" / "duban.duckdb", home)
    assert build.returncode == 0, build.stdout + build.stderr
