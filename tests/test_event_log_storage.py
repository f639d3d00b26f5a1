"""duban's Dagster home keeps its event log in Dagster's own SQLite files, with engines kept open between events."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.event_log_storage import OPEN_ENGINES, PooledSqliteEventLogStorage
from assets.warehouse import STAR_TABLES
from tests.conftest import run_build


def test_a_build_writes_events_dagsters_own_storage_reads(seed_build) -> None:
    """The home a real `duban build` made names the pooled storage, and Dagster's plain class finds every event in it."""
    settings = (seed_build.home / "dagster.yaml").read_text(encoding="utf-8")
    assert "class: PooledSqliteEventLogStorage" in settings
    plain = SqliteEventLogStorage(str(seed_build.home / "history" / "runs"))
    for name in (*STAR_TABLES, "raw_reports", "tidy_records", "v_progress", "parquet_export", "briefing_reports"):
        [record] = plain.fetch_materializations(dg.AssetKey(name), limit=10).records
        assert record.partition_key == "2021Q1"
    [run_id] = plain.get_all_run_ids()
    kinds = [e.dagster_event_type for e in plain.get_logs_for_run(run_id) if e.is_dagster_event]
    assert kinds.count(dg.DagsterEventType.ASSET_MATERIALIZATION) == len(STAR_TABLES) + 5
    assert kinds.count(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED) == len(STAR_TABLES) + 5
    assert dg.DagsterEventType.RUN_SUCCESS in kinds


def test_a_home_written_by_dagsters_own_storage_goes_on(raw_dir: Path, tmp_path: Path) -> None:
    """A home whose history Dagster's plain storage wrote keeps it when duban's storage takes over."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")  # a hand-written home: Dagster's defaults
    first = run_build(raw_dir, tmp_path / "w" / "duban.duckdb", home)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "PooledSqliteEventLogStorage" not in (home / "dagster.yaml").read_text(encoding="utf-8")
    plain = SqliteEventLogStorage(str(home / "history" / "runs"))
    assert len(plain.get_all_run_ids()) == 1
    (home / "dagster.yaml").unlink()  # duban writes its own settings, with the pooled event log
    (raw_dir / "菏泽市人民政府2021年第二季度.txt").write_text(
        (raw_dir / "heze-2021-Q1.txt").read_text(encoding="utf-8").replace("第一季度", "第二季度"), encoding="utf-8"
    )
    second = run_build(raw_dir, tmp_path / "w" / "duban.duckdb", home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "PooledSqliteEventLogStorage" in (home / "dagster.yaml").read_text(encoding="utf-8")
    assert len(plain.get_all_run_ids()) == 2
    partitions = {r.partition_key for r in plain.fetch_materializations(dg.AssetKey("fact_target_progress"), limit=10).records}
    assert partitions == {"2021Q1", "2021Q2"}


def test_only_the_most_recent_engines_stay_open(tmp_path: Path) -> None:
    storage = PooledSqliteEventLogStorage.from_config_value(None, {"base_dir": str(tmp_path / "history" / "runs")})
    shards = [f"run-{i}" for i in range(OPEN_ENGINES + 5)]
    for shard in shards:
        with storage.run_connection(shard) as conn:
            conn.exec_driver_sql("SELECT 1")
    assert list(storage._engines) == shards[-OPEN_ENGINES:]
    assert all((tmp_path / "history" / "runs" / f"{shard}.db").exists() for shard in shards)
    storage.wipe()
    assert set(storage._engines) <= {"index"}  # no engine points at a deleted run database
    assert not any(name.startswith("run-") for name in os.listdir(tmp_path / "history" / "runs"))
    storage.dispose()


def test_each_write_reaches_the_run_database_file_dagsters_watcher_looks_at(tmp_path: Path) -> None:
    """Run databases are in WAL mode; the UI's live log watches <run>.db itself, so every committed write must be
    in that file (read here with the WAL ignored) though the connection stays open."""
    import sqlite3

    storage = PooledSqliteEventLogStorage(str(tmp_path))
    for i in range(3):
        with storage.run_connection("run-a") as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS probe (i INTEGER)")
            conn.exec_driver_sql(f"INSERT INTO probe VALUES ({i})")
        assert "run-a" in storage._engines  # kept open
        with sqlite3.connect(f"file:{tmp_path / 'run-a.db'}?immutable=1", uri=True) as plain:
            assert plain.execute("SELECT count(*) FROM probe").fetchone()[0] == i + 1
    storage.dispose()


def test_dagsters_run_log_watcher_sees_each_event_as_it_is_stored(tmp_path: Path) -> None:
    """What the UI's live run log does: a second storage watches a run while the pooled one writes events to it."""
    import time

    from dagster._core.events.log import EventLogEntry

    def entry(message: str) -> EventLogEntry:
        return EventLogEntry(
            error_info=None, level="INFO", user_message=message, run_id="run-b", timestamp=time.time(),
            step_key=None, job_name=None, dagster_event=None,
        )

    writer, reader = PooledSqliteEventLogStorage(str(tmp_path)), PooledSqliteEventLogStorage(str(tmp_path))
    seen: list[str] = []
    try:
        writer.store_event(entry("first"))
        reader.watch("run-b", None, lambda event, cursor: seen.append(event.user_message))
        for i in range(3):
            time.sleep(0.3)
            writer.store_event(entry(f"event {i}"))
        deadline = time.monotonic() + 20
        while len(seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert seen == ["first", "event 0", "event 1", "event 2"]
    finally:
        reader.dispose()
        writer.dispose()


def test_ctrl_c_while_an_engine_closes_waits_for_the_close_and_logs_no_traceback(tmp_path: Path, caplog, monkeypatch) -> None:
    """An interrupt that arrives while a connection closes is raised once the engines are closed, not inside SQLAlchemy."""
    # without the command line's log filter (another test may have installed it in this process)
    monkeypatch.setattr(logging.getLogger("sqlalchemy.pool.impl.QueuePool"), "filters", [])
    storage = PooledSqliteEventLogStorage.from_config_value(None, {"base_dir": str(tmp_path / "history" / "runs")})
    closed: list[str] = []
    for shard in ("run-a", "run-b"):
        with storage.run_connection(shard) as conn:
            conn.exec_driver_sql("SELECT 1")
        dialect = storage._engines[shard].dialect

        def close_interrupted(connection, shard=shard, close=dialect.do_close) -> None:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the close
            close(connection)
            closed.append(shard)

        dialect.do_close = close_interrupted
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in `duban build` (tests before may differ)
    try:
        with caplog.at_level(logging.DEBUG, logger="sqlalchemy.pool"), pytest.raises(KeyboardInterrupt):
            storage.dispose()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back as it was
    finally:
        signal.signal(signal.SIGINT, previous)
    assert set(closed) == {"run-a", "run-b"} and not storage._engines  # every pooled connection of both was closed
    assert "Exception closing connection" not in caplog.text


def _stored_over_three_partitions(tmp_path: Path) -> list:
    """Materialize an asset over three partitions in one run (as `duban build` runs its periods) with duban's event
    log storage; returns the run's Dagster event types as Dagster's own class reads them back, after checking that
    the asset's three materializations are there."""
    quarters = dg.StaticPartitionsDefinition(["2021Q1", "2021Q2", "2021Q3"])

    @dg.asset(partitions_def=quarters, backfill_policy=dg.BackfillPolicy.single_run())
    def progress(context) -> None:
        assert len(context.partition_keys) == 3

    runs = tmp_path / "history" / "runs"
    storage = {"module": "assets.event_log_storage", "class": "PooledSqliteEventLogStorage", "config": {"base_dir": str(runs)}}
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides={"event_log_storage": storage}) as instance:
        result = dg.materialize(
            [progress], instance=instance,
            tags={ASSET_PARTITION_RANGE_START_TAG: "2021Q1", ASSET_PARTITION_RANGE_END_TAG: "2021Q3"},
        )
        assert result.success
    plain = SqliteEventLogStorage(str(runs))
    records = plain.fetch_materializations(dg.AssetKey("progress"), limit=10).records
    assert sorted(r.partition_key for r in records) == ["2021Q1", "2021Q2", "2021Q3"]
    [run_id] = plain.get_all_run_ids()
    return [e.dagster_event_type for e in plain.get_logs_for_run(run_id) if e.is_dagster_event]


PLANNED, DONE = dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, dg.DagsterEventType.ASSET_MATERIALIZATION


def test_an_assets_materializations_over_a_runs_partitions_are_stored_as_one_batch(tmp_path: Path, monkeypatch) -> None:
    """Dagster hands the storage an asset's planned and done materializations over a run's partitions as a batch each; the storage
    writes it in one transaction per database, and Dagster's own class reads back every event once."""
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")  # as the storage module sets it in duban's processes
    batches: list[list] = []
    store_batch = PooledSqliteEventLogStorage.store_event_batch
    monkeypatch.setattr(PooledSqliteEventLogStorage, "store_event_batch", lambda self, events: batches.append(
        [e.dagster_event_type for e in events]) or store_batch(self, events))
    kinds = _stored_over_three_partitions(tmp_path)
    assert batches == [[PLANNED] * 3, [DONE] * 3]
    assert kinds.count(DONE) == 3 and kinds.count(PLANNED) == 3


def test_a_batch_that_fails_midway_leaves_nothing_and_dagster_stores_its_events_one_by_one(tmp_path: Path, monkeypatch) -> None:
    """An error inside a batch rolls back what the batch wrote; Dagster then stores the events one by one: each once."""
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")  # as the storage module sets it in duban's processes
    store_asset_event = SqlEventLogStorage._store_asset_event
    calls: list[str] = []

    def failing_in_batch(self, conn, event, event_id):
        calls.append(self._batch_thread is not None and "batch" or "single")
        if calls[-1] == "batch" and calls.count("batch") == 2:  # the second event of the first batch
            raise OSError("disk full")
        return store_asset_event(self, conn, event, event_id)

    monkeypatch.setattr(PooledSqliteEventLogStorage, "_store_asset_event", failing_in_batch)
    kinds = _stored_over_three_partitions(tmp_path)
    assert "single" in calls  # the fallback ran
    assert kinds.count(PLANNED) == 3 and kinds.count(DONE) == 3


def test_a_batch_whose_commit_fails_releases_its_databases_for_dagsters_fallback(tmp_path: Path, monkeypatch) -> None:
    """A commit that fails (here a deferred foreign key, standing in for a full disk) leaves SQLite's transaction
    open; the batch rolls it back and closes its connections, so Dagster's one-by-one fallback is not locked out."""
    from sqlalchemy import event as sqlalchemy_event
    from sqlalchemy.engine import Engine

    from assets.event_log_storage import INDEX_SHARD_NAME

    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    batch_connection = PooledSqliteEventLogStorage._batch_connection
    armed: list[str] = []

    def failing_commit(self, shard):
        new = shard not in self._batch
        conn = batch_connection(self, shard)
        if new and shard != INDEX_SHARD_NAME and not armed:  # the first batch's run database: its COMMIT will fail
            armed.append(shard)
            conn.exec_driver_sql("CREATE TEMP TABLE parent (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql("CREATE TEMP TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
            conn.exec_driver_sql("INSERT INTO child VALUES (7)")
        return conn

    def foreign_keys_on(dbapi_connection, record) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    monkeypatch.setattr(PooledSqliteEventLogStorage, "_batch_connection", failing_commit)
    monkeypatch.setattr("assets.event_log_storage.SQLITE_BUSY_TIMEOUT_SECONDS", 5)  # a locked database fails fast
    sqlalchemy_event.listen(Engine, "connect", foreign_keys_on)
    try:
        kinds = _stored_over_three_partitions(tmp_path)
    finally:
        sqlalchemy_event.remove(Engine, "connect", foreign_keys_on)
    assert armed  # the failing commit happened
    assert kinds.count(PLANNED) == 3 and kinds.count(DONE) == 3


def test_the_index_is_asked_once_whether_a_table_exists_and_the_tags_still_land(tmp_path: Path, monkeypatch) -> None:
    """Dagster asks whether the index has asset_event_tags before each asset event's tags, on an engine of its own each
    time; the storage asks the database once, and every materialization's partition tag is stored."""
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    asked: list[str] = []
    has_table = SqliteEventLogStorage.has_table
    monkeypatch.setattr(SqliteEventLogStorage, "has_table", lambda self, name: asked.append(name) or has_table(self, name))
    kinds = _stored_over_three_partitions(tmp_path)
    assert kinds.count(DONE) == 3
    assert asked.count("asset_event_tags") == 1
    plain = SqliteEventLogStorage(str(tmp_path / "history" / "runs"))
    with plain.index_connection() as conn:
        tagged = conn.exec_driver_sql("SELECT count(*) FROM asset_event_tags").fetchone()[0]
    assert tagged >= 3  # each of the three materializations carries at least its partition
