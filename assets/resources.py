"""Resources: where raw reports live and where the warehouse is, from DUBAN_RAW, DUBAN_WAREHOUSE and DUBAN_DATA_PATH."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.settings import DEFAULT_RAW_DIR, DEFAULT_WAREHOUSE, configured_paths  # noqa: F401 (re-exported)
from pipelines.staging import StagingArea
from pipelines.targets import Target, target_for


class RawDirectory(dg.ConfigurableResource):
    """The folder that holds raw reports (subfolders such as raw/<publisher>/ included)."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path).resolve()


class Warehouse(dg.ConfigurableResource):
    """The warehouse analysts read: a DuckDB file (built in a working copy, published whole) or a DuckLake
    (`ducklake:…`, one snapshot per build, Parquet files under data_path), with the local staging files."""

    path: str
    data_path: str | None = None
    raw_path: str = ""  # the raw folder builds read: on a DuckLake each keeps its own period lists

    @property
    def target(self) -> Target:
        return target_for(self.path, self.data_path)

    @property
    def published(self) -> Path:
        """The published DuckDB file (a file target only)."""
        return Path(self.path).resolve()

    @property
    def staging(self) -> StagingArea:
        return self.target.staging(Path(self.raw_path or configured_paths()[0]))
