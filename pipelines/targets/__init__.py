"""Where builds write and readers read: one DuckDB file (the default) or a DuckLake, chosen by one setting.

`--warehouse` / DUBAN_WAREHOUSE is a file path, `ducklake:postgres:<libpq conninfo>` (a DuckLake whose
catalog is in PostgreSQL) or `ducklake:<path>.ducklake` (a DuckLake with a local catalog file);
`--data-path` / DUBAN_DATA_PATH is the folder (or s3:// URL) of a DuckLake's Parquet files.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.targets.base import Target
from pipelines.targets.file import FileTarget

LAKE_PREFIX = "ducklake:"


def is_lake(spec: str | os.PathLike | Target | None) -> bool:
    """Whether a warehouse setting names a DuckLake."""
    if isinstance(spec, Target):
        return spec.is_lake
    return spec is not None and str(spec).startswith(LAKE_PREFIX)


def target_for(spec: str | os.PathLike | Target | None = None, data_path: str | None = None) -> Target:
    """The target a warehouse setting names (default: DUBAN_WAREHOUSE, else warehouse/duban.duckdb).

    data_path (default: DUBAN_DATA_PATH) only matters for a DuckLake.
    """
    if isinstance(spec, Target):
        return spec
    from pipelines.settings import configured_data_path, configured_paths

    spec = str(spec) if spec is not None else configured_paths()[1]
    if is_lake(spec):
        from pipelines.targets.lake import LakeTarget

        return LakeTarget(spec, data_path or configured_data_path())
    return FileTarget(Path(spec).resolve())


__all__ = ["Target", "FileTarget", "target_for", "is_lake"]
