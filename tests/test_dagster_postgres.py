"""Dagster storage in a real PostgreSQL: two `duban build` processes with different DAGSTER_HOME folders
("hosts") share one run history and one "warehouse" pool limit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assets.warehouse import WAREHOUSE_POOL
from tests.conftest import REPO, SEED, run_build
from tests.test_serve import free_port

psycopg = pytest.importorskip("psycopg")

POOL_STEPS = {"star_schema", "v_progress"}  # the assets with pool=WAREHOUSE_POOL


@pytest.fixture
def dagster_db(tmp_path: Path, postgresql_installed: None):
    """A throw-away PostgreSQL with an empty `dagster` database; yields its URL over the unix socket."""
    from pipelines.pg_server import OWNER, PgServer

    server = PgServer.start(tmp_path / "pg", "127.0.0.1", free_port())
    try:
        with psycopg.connect(server.admin_dsn("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE dagster")
        yield f"postgresql://{OWNER}@/dagster?host={server.folder}&port={server.port}"
    finally:
        server.stop()


def _instance(url: str, home: Path, monkeypatch: pytest.MonkeyPatch):
    """An instance made from the README's example dagster.yaml (docs/dagster-postgres.yaml), as a daemon host would."""
    import dagster as dg

    home.mkdir(exist_ok=True)
    shutil.copy2(REPO / "docs" / "dagster-postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DUBAN_DAGSTER_STORAGE", url)
    instance = dg.DagsterInstance.from_config(str(home))
    assert instance.global_op_concurrency_default_limit == 1
    return instance


def _pool_step_spans(instance, run_id: str) -> list[tuple[float, float, str]]:
    """(start, end, step) of each step of the run that runs in the warehouse pool, from the run's event log."""
    import dagster as dg

    starts, spans = {}, []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key not in POOL_STEPS:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            spans.append((starts[event.step_key], entry.timestamp, f"{run_id[:8]}:{event.step_key}"))
    return spans


def test_two_hosts_share_one_run_history_and_pool(tmp_path: Path, dagster_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / SEED.name).write_bytes(SEED.read_bytes())
    env = {"DUBAN_DAGSTER_STORAGE": dagster_db}
    # two "hosts": own DAGSTER_HOME, own warehouse (so no build lock between them), one PostgreSQL, at once
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(run_build, raw, tmp_path / "a" / "duban.duckdb", tmp_path / "home-a", env=env)
        b = pool.submit(run_build, raw, tmp_path / "b" / "duban.duckdb", tmp_path / "home-b", env=env)
        first, second = a.result(), b.result()
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    for home in ("home-a", "home-b"):
        assert "postgres_url" in (tmp_path / home / "dagster.yaml").read_text()
        assert not list((tmp_path / home).rglob("*.db")), "no SQLite run storage when PostgreSQL is set"

    instance = _instance(dagster_db, tmp_path / "reader", monkeypatch)
    try:
        import dagster as dg

        runs = instance.get_runs()
        assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        # the pool limit lives in the shared storage: both hosts see the same "warehouse" pool
        assert WAREHOUSE_POOL in instance.event_log_storage.get_concurrency_keys()
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count == 1
        spans = sorted(span for run in runs for span in _pool_step_spans(instance, run.run_id))
        assert len(spans) == 4  # star_schema and v_progress in each run
        for earlier, later in zip(spans, spans[1:]):
            assert earlier[1] <= later[0], f"two steps held the one warehouse slot at once: {earlier} {later}"
        build_runs = {run.run_id for run in runs}
    finally:
        instance.dispose()

    # a third host opens the UI on the same database (`duban dev --instance`): it lists both runs
    shown = _runs_in_the_ui(dagster_db, tmp_path)
    assert build_runs <= {run["runId"] for run in shown if run["status"] == "SUCCESS"}, shown


RUNS = "{ runsOrError { ... on Runs { results { runId status } } } }"


def _runs_in_the_ui(url: str, tmp_path: Path) -> list[dict]:
    """The runs `duban dev --instance URL` shows through the UI's GraphQL API, from a fresh DAGSTER_HOME."""
    from tests.test_dagster_dev import Dev, stop_process_group, wait_until

    empty = tmp_path / "empty-raw"
    empty.mkdir()
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home-ui"), "DUBAN_RAW": str(empty),
           "DUBAN_WAREHOUSE": str(tmp_path / "ui" / "duban.duckdb")}
    env.pop("DUBAN_DAGSTER_STORAGE", None)
    log = (tmp_path / "duban-dev.log").open("w")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("duban")), "dev", "--instance", url, "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    dev = Dev(port)
    try:
        wait_until(lambda: dev.up() or proc.poll() is not None, 180, "the Dagster webserver")
        assert proc.poll() is None, (tmp_path / "duban-dev.log").read_text()
        assert "postgres_url" in (tmp_path / "home-ui" / "dagster.yaml").read_text()
        return dev.graphql(RUNS)["runsOrError"]["results"]
    finally:
        stop_process_group(proc)
        log.close()


def test_default_stays_sqlite_in_the_home(tmp_path: Path, raw_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DUBAN_DAGSTER_STORAGE"}
    os.environ.pop("DUBAN_DAGSTER_STORAGE", None)
    build = run_build(raw_dir, tmp_path / "w" / "duban.duckdb", tmp_path / "home", env=env)
    assert build.returncode == 0, build.stderr
    settings = (tmp_path / "home" / "dagster.yaml").read_text()
    assert "postgres" not in settings and "\nstorage:" not in settings  # Dagster's SQLite storages in the home
    assert f"base_dir: \"{tmp_path / 'home' / 'history' / 'runs'}\"" in settings  # the event log where Dagster keeps it
    assert list((tmp_path / "home" / "history" / "runs").glob("*.db"))


def test_a_non_postgres_url_is_refused_with_what_to_do(tmp_path: Path, raw_dir: Path) -> None:
    build = run_build(raw_dir, tmp_path / "w" / "duban.duckdb", tmp_path / "home",
                      env={"DUBAN_DAGSTER_STORAGE": "mysql://x@y/z"})
    assert build.returncode != 0
    assert "DUBAN_DAGSTER_STORAGE must be a postgresql://" in build.stderr


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_an_unreachable_storage_is_named_without_its_password(tmp_path: Path, raw_dir: Path, scheme: str) -> None:
    url = f"{scheme}://dagster:Dagster-pw-123@127.0.0.1:1/dagster"
    build = run_build(raw_dir, tmp_path / "w" / "duban.duckdb", tmp_path / "home", env={"DUBAN_DAGSTER_STORAGE": url})
    assert build.returncode == 2, build.stdout + build.stderr
    assert "Dagster's storage in PostgreSQL (DUBAN_DAGSTER_STORAGE) cannot be used" in build.stderr, build.stderr
    assert "Dagster-pw-123" not in build.stdout + build.stderr and "Traceback" not in build.stderr
