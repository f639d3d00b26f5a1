"""Dagster's SQLite event log with its database engines kept open between events instead of made anew for each.

Dagster's SqliteEventLogStorage creates a SQLAlchemy engine (and a new SQLite connection) every time it
touches a run's database or the cross-run index, several times per event. A build of 40 periods stores
about 1,100 events (a planned and a done materialization per asset and partition), and that cost 11 s of
an 18 s bookkeeping share on the 1,200-report corpus. This subclass keeps one engine per database, the
few most recently used, and is otherwise the same storage reading and writing the same files: a home
written with it reads back with Dagster's own class, and the other way round.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Iterator

from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

# Engines kept open: the index and the runs being written or watched; older ones are closed.
OPEN_ENGINES = 8

# Dagster hands a storage the materializations of one asset over a run's partitions as one batch only when
# this is set (it reads it at every event); this storage writes a batch in one transaction per database,
# so it switches batching on in the processes that use it, unless set otherwise.
os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "1000")


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold back Ctrl-C until the block is done, then deliver it as it would have been.

    SQLAlchemy logs an exception raised while it closes a connection with its traceback before passing it
    on; a Ctrl-C that lands there would print that traceback where duban promises one line. Closing a few
    SQLite connections takes milliseconds, so the interrupt waits for them.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives Python's signals
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                os.kill(os.getpid(), signal.SIGINT)


def _end_batch_connection(shard: str, conn: Connection, committed: bool) -> None:
    """Checkpoint what a batch committed to a run's database (as _connect does, for watchers), or roll back what
    it left uncommitted on conn, a commit that failed included (SQLite keeps that transaction open); close conn."""
    try:
        if not committed:
            conn.rollback()
        elif shard != INDEX_SHARD_NAME:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
    except Exception:  # noqa: BLE001, S110 (the batch's own error is the one raised; closing is what matters here)
        pass
    finally:
        conn.close()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage whose engines (one per run database and one for the index) outlive a single event."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        # while store_event_batch runs (in the thread named here): shard → its connection and open transaction
        self._batch: dict[str, tuple[Connection, object]] = {}
        self._batch_thread: int | None = None
        self._index_tables: set[str] = set()  # tables the index database is known to have
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
        self._engines[shard] = engine  # most recently used last
        while len(self._engines) > OPEN_ENGINES:
            _, oldest = self._engines.popitem(last=False)
            with interrupts_held():
                oldest.dispose()
        return engine

    def has_table(self, table_name: str) -> bool:
        """Whether the index database has the table. Dagster asks before storing each asset event's tags, each time
        on an engine of its own; a table, once there, stays until wipe(), so a yes is remembered."""
        if table_name in self._index_tables:
            return True
        present = super().has_table(table_name)
        if present:
            self._index_tables.add(table_name)
        return present

    def store_event_batch(self, events) -> None:
        """Store a batch of events as store_event stores each, in one transaction per database they touch.

        A build of 40 periods stores each asset's 40 materializations as one batch; one by one, each opened a
        transaction on the run's database and one on the index, with a commit each. The run's database is
        committed first, and Ctrl-C is held until both commits are done. Should the index's commit fail (a
        full disk), Dagster stores the batch again event by event, and the run's own log holds those events
        twice, the asset history once. Whatever fails, every connection of the batch is rolled back or
        checkpointed and closed, so that the fallback finds no database locked.
        """
        with self._db_lock:
            self._batch_thread = threading.get_ident()
            committed: set[str] = set()
            try:
                for event in events:
                    super().store_event(event)
                with interrupts_held():
                    for shard in sorted(self._batch, key=lambda name: name == INDEX_SHARD_NAME):
                        self._batch[shard][1].commit()
                        committed.add(shard)
            finally:
                batch, self._batch, self._batch_thread = self._batch, {}, None
                with interrupts_held():
                    for shard, (conn, _) in batch.items():
                        _end_batch_connection(shard, conn, shard in committed)

    def _batch_connection(self, shard: str) -> Connection:
        """The connection, in its open transaction, that the running batch writes shard with."""
        if shard not in self._batch:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            conn = engine.connect()
            self._batch[shard] = (conn, conn.begin())
        return self._batch[shard][0]

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        if self._batch_thread == threading.get_ident():  # inside store_event_batch, which holds the lock
            yield self._batch_connection(shard)
            return
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn
                if shard != INDEX_SHARD_NAME:
                    # Run databases are in WAL mode and Dagster's watcher (the UI's live run log) looks at
                    # <run>.db only. Dagster's class closes the connection after each event, which copies the
                    # WAL into the file; a connection kept open must copy it itself.
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def _close_engines(self) -> None:
        with interrupts_held():
            while self._engines:
                _, engine = self._engines.popitem()
                engine.dispose()

    def wipe(self) -> None:
        """Close every engine before Dagster deletes the run databases they point at, and any a watcher opened meanwhile."""
        with self._db_lock:
            self._close_engines()
            self._index_tables.clear()
        super().wipe()
        with self._db_lock:
            self._close_engines()

    def dispose(self) -> None:
        with self._db_lock:
            self._close_engines()
        super().dispose()
