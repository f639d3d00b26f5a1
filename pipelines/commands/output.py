"""Where a command's messages go, and the warehouse a command works on."""

from __future__ import annotations

import sys
from pathlib import Path

_to_stderr = False  # --json: stdout holds only the JSON document


def json_mode(on: bool) -> None:
    """With --json, messages go to stderr so that stdout holds only the JSON document."""
    global _to_stderr
    _to_stderr = on


def say(message: str) -> None:
    """Print one message of a command (stdout, or stderr under --json)."""
    print(message, file=sys.stderr if _to_stderr else sys.stdout, flush=True)


def warehouse_target(warehouse: str | None, data_path: str | None = None):
    """The warehouse a command works on (a DuckDB file or a DuckLake): the option, else $DUBAN_WAREHOUSE, else the default file."""
    from pipelines.targets import target_for

    return target_for(warehouse, data_path)


def warehouse_file(warehouse: str | None) -> Path:
    """The warehouse file a command works on: the option, else $DUBAN_WAREHOUSE, else warehouse/duban.duckdb."""
    from pipelines.settings import configured_paths

    return Path(warehouse or configured_paths()[1]).resolve()
