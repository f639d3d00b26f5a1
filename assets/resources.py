"""Resources: where raw reports live and where the warehouse is, from DUBAN_RAW and DUBAN_WAREHOUSE."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

DEFAULT_RAW_DIR = "raw"
DEFAULT_WAREHOUSE = "warehouse/duban.duckdb"


class RawDirectory(dg.ConfigurableResource):
    """The folder that holds raw reports (subfolders such as raw/<publisher>/ included)."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path).resolve()


def warehouse_resource(path: str | os.PathLike) -> DuckDBResource:
    """The DuckDB warehouse file, its folder created if missing."""
    Path(path).resolve().parent.mkdir(parents=True, exist_ok=True)
    return DuckDBResource(database=str(Path(path).resolve()))


def configured_paths() -> tuple[str, str]:
    """The raw directory and warehouse file from the environment, or duban's defaults."""
    return os.environ.get("DUBAN_RAW", DEFAULT_RAW_DIR), os.environ.get("DUBAN_WAREHOUSE", DEFAULT_WAREHOUSE)
