"""The Dagster instance duban runs in: $DAGSTER_HOME, or .dagster/ in the current folder."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

INSTANCE_SETTINGS = """\
# Written by duban. DuckDB takes one writer: assets in a pool run one at a time.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def dagster_home() -> Path:
    """The instance folder, created with duban's settings if it does not exist yet."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(INSTANCE_SETTINGS, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance() -> dg.DagsterInstance:
    """The persistent Dagster instance, so runs from `duban` show in `dagster dev` with the same home."""
    dagster_home()
    return dg.DagsterInstance.get()
