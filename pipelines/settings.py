"""duban's settings from the environment: where the raw reports, the warehouse and a DuckLake's data are, and whole-number settings (no Dagster needed to ask)."""

from __future__ import annotations

import os

from pipelines.errors import ConfigurationError

DEFAULT_RAW_DIR = "raw"
DEFAULT_WAREHOUSE = "warehouse/duban.duckdb"


def configured_paths() -> tuple[str, str]:
    """The raw directory and warehouse file from the environment, or duban's defaults."""
    return os.environ.get("DUBAN_RAW", DEFAULT_RAW_DIR), os.environ.get("DUBAN_WAREHOUSE", DEFAULT_WAREHOUSE)


def whole_number(name: str, default: int, minimum: int = 1, meaning: str | None = None) -> int:
    """A whole-number setting from the environment, its default when unset; anything else is refused with one line."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < minimum:
        raise ConfigurationError(f"{name} must be a whole number {meaning or f'of {minimum} or more'}, not {text!r}")
    return int(text)


def configured_data_path() -> str | None:
    """The folder (or s3:// URL) of a DuckLake's Parquet files, from DUBAN_DATA_PATH; None when unset."""
    return os.environ.get("DUBAN_DATA_PATH") or None
