"""Where the raw reports and the warehouse are, from DUBAN_RAW and DUBAN_WAREHOUSE (no Dagster needed to ask)."""

from __future__ import annotations

import os

DEFAULT_RAW_DIR = "raw"
DEFAULT_WAREHOUSE = "warehouse/duban.duckdb"


def configured_paths() -> tuple[str, str]:
    """The raw directory and warehouse file from the environment, or duban's defaults."""
    return os.environ.get("DUBAN_RAW", DEFAULT_RAW_DIR), os.environ.get("DUBAN_WAREHOUSE", DEFAULT_WAREHOUSE)
