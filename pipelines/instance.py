"""The Dagster instance duban runs in: $DAGSTER_HOME, or .dagster/ in the current folder."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import dagster as dg

from pipelines.errors import DagsterHomeUnusable
from pipelines.lock import HOME_LOCK, exclusive

INSTANCE_SETTINGS = """\
# Written by duban. DuckDB takes one writer: assets in a pool run one at a time.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def _home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster").resolve()


def dagster_home() -> Path:
    """The instance folder, created with duban's settings if it does not exist yet."""
    home = _home()
    try:
        home.mkdir(parents=True, exist_ok=True)
        settings = home / "dagster.yaml"
        if not settings.exists():
            settings.write_text(INSTANCE_SETTINGS, encoding="utf-8")
    except OSError as error:
        raise DagsterHomeUnusable(home, error) from None
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance() -> dg.DagsterInstance:
    """The persistent Dagster instance, so runs from `duban` show in `dagster dev` with the same home."""
    dagster_home()
    import dagster as dg  # imported when needed: a build with nothing to do never loads Dagster

    return dg.DagsterInstance.get()


@contextmanager
def setting_up_instance() -> Iterator[dg.DagsterInstance]:
    """The instance, while this process alone may initialise or change its storage.

    Processes that share a DAGSTER_HOME take turns (a lock file in the home): Dagster's SQLite storage
    is created and migrated once, and partitions are registered one process at a time. Anything that
    stops the home from being used is raised as DagsterHomeUnusable.
    """
    import dagster as dg

    home = dagster_home()
    try:
        with exclusive(home / HOME_LOCK):
            yield dg.DagsterInstance.get()
    except DagsterHomeUnusable:
        raise
    except (OSError, dg.DagsterError) as error:
        raise DagsterHomeUnusable(home, error) from None
    except Exception as error:  # sqlite errors surface as sqlalchemy's OperationalError
        if type(error).__module__.startswith(("sqlalchemy", "sqlite3")):
            raise DagsterHomeUnusable(home, error) from None
        raise
