"""The Dagster instance duban runs in: $DAGSTER_HOME, or .dagster/ in the current folder.

With DUBAN_DAGSTER_STORAGE=postgresql://… the runs, events, schedules and pool slots live in that PostgreSQL
database instead of SQLite files in the home, so builds and daemons on several hosts share one history and
one "warehouse" pool limit.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import dagster as dg

from pipelines.errors import DagsterHomeUnusable, DagsterStorageUnusable
from pipelines.lock import HOME_LOCK, exclusive

INSTANCE_SETTINGS = """\
# Written by duban. DuckDB takes one writer: assets in a pool run one at a time.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""

# Dagster's SQLite event log, the same files, with its database engines kept open between events
# (assets/event_log_storage.py); runs and schedules stay in Dagster's default SQLite storages.
SQLITE_EVENT_LOG = """\
event_log_storage:
  module: assets.event_log_storage
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {runs}
"""

STORAGE_ENV = "DUBAN_DAGSTER_STORAGE"
WRITTEN_BY_DUBAN = INSTANCE_SETTINGS.splitlines()[0]

# the URL is read from the environment when Dagster loads the file, so no password is written to disk
POSTGRES_STORAGE = f"""\
storage:
  postgres:
    postgres_url:
      env: {STORAGE_ENV}
"""


def instance_settings() -> str:
    """duban's dagster.yaml: SQLite in the home by default, PostgreSQL when DUBAN_DAGSTER_STORAGE is set."""
    url = os.environ.get(STORAGE_ENV, "").strip()
    if not url:
        # where Dagster's default keeps it; written out whole, since Dagster reads a home without DAGSTER_HOME set too
        return INSTANCE_SETTINGS + SQLITE_EVENT_LOG.format(runs=json.dumps(str(_home() / "history" / "runs")))
    if url.startswith("postgres://"):  # libpq's short scheme, which SQLAlchemy (Dagster's storage) does not know
        url = "postgresql://" + url.removeprefix("postgres://")
        os.environ[STORAGE_ENV] = url
    if not url.startswith(("postgresql://", "postgresql+psycopg2://")):
        raise DagsterHomeUnusable(_home(), ValueError(
            f"{STORAGE_ENV} must be a postgresql://user:password@host:port/database URL, not {url.split(':')[0]!r}"))
    return INSTANCE_SETTINGS + POSTGRES_STORAGE


def _home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster").resolve()


def dagster_home() -> Path:
    """The instance folder, created with duban's settings if it does not exist yet."""
    home = _home()
    try:
        home.mkdir(parents=True, exist_ok=True)
        settings = home / "dagster.yaml"
        wanted = instance_settings()
        # a dagster.yaml someone wrote by hand is theirs; one duban wrote follows DUBAN_DAGSTER_STORAGE
        if not settings.exists() or (
            settings.read_text(encoding="utf-8").startswith(WRITTEN_BY_DUBAN)
            and settings.read_text(encoding="utf-8") != wanted
        ):
            settings.write_text(wanted, encoding="utf-8")
    except OSError as error:
        raise DagsterHomeUnusable(home, error) from None
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance() -> dg.DagsterInstance:
    """The persistent Dagster instance, so runs from `duban` show in `dagster dev` with the same home."""
    dagster_home()
    import dagster as dg  # imported when needed: a build with nothing to do never loads Dagster

    return dg.DagsterInstance.get()


# any fixed number: the PostgreSQL advisory lock every duban process takes while it sets up the shared storage
STORAGE_SETUP_LOCK = 0x64756261


@contextmanager
def _first_use_of_shared_storage() -> Iterator[None]:
    """While held, no other duban process on any host creates or migrates the shared PostgreSQL storage.

    Dagster creates its tables (and the pool rows) with check-then-create statements, which two hosts
    starting on an empty database at once would both run; a session advisory lock lets one go first.
    Nothing is held with SQLite storage: the home lock already covers it.
    """
    url = os.environ.get(STORAGE_ENV, "").strip()
    if not url:
        yield
        return
    import psycopg2  # installed with dagster-postgres

    connection = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://", 1))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (STORAGE_SETUP_LOCK,))
        yield
    finally:
        connection.close()  # ends the session, which releases the lock


def _initialise_shared_pools(instance: dg.DagsterInstance) -> None:
    """Create the warehouse pool's row in shared storage once, so runs never race to insert it."""
    if not os.environ.get(STORAGE_ENV, "").strip():
        return
    from assets.warehouse import WAREHOUSE_POOL

    storage = instance.event_log_storage
    if WAREHOUSE_POOL not in storage.get_concurrency_keys():
        storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)


@contextmanager
def setting_up_instance() -> Iterator[dg.DagsterInstance]:
    """The instance, while this process alone may initialise or change its storage.

    Processes that share a DAGSTER_HOME take turns (a lock file in the home): Dagster's SQLite storage
    is created and migrated once, and partitions are registered one process at a time. Anything that
    stops the home from being used is raised as DagsterHomeUnusable.
    """
    import dagster as dg

    from assets.event_log_storage import interrupts_held

    home = dagster_home()
    try:
        with exclusive(home / HOME_LOCK):
            # Dagster creates a new home's SQLite databases here and never completes one it finds begun: a Ctrl-C
            # in the middle would leave a home no later build can use, so it waits until they are whole
            with _first_use_of_shared_storage(), interrupts_held():
                instance = dg.DagsterInstance.get()
                _initialise_shared_pools(instance)
            yield instance
    except DagsterHomeUnusable:
        raise
    except (OSError, dg.DagsterError) as error:
        raise DagsterHomeUnusable(home, error) from None
    except Exception as error:  # sqlite/postgres errors surface as sqlalchemy's OperationalError
        url = os.environ.get(STORAGE_ENV, "").strip()
        if url and type(error).__module__.startswith(("sqlalchemy", "psycopg2")):
            from pipelines.targets.lake import secrets_in

            raise DagsterStorageUnusable(error, secrets_in(url)) from None
        if type(error).__module__.startswith(("sqlalchemy", "sqlite3", "psycopg2")):
            raise DagsterHomeUnusable(home, error) from None
        raise
