"""Run inside worker processes: which heavy libraries a worker has imported once its task's modules are loaded."""

from __future__ import annotations

import sys


def heavy_modules(items: list[int]) -> list[list[str]]:
    """For each item, the heavy libraries imported in this worker after the build's task modules are imported."""
    import pipelines.manifest  # noqa: F401 (identify_files)
    import pipelines.process  # noqa: F401 (process_staged)
    import pipelines.staging  # noqa: F401 (stage_files)

    return [sorted(name for name in ("dagster", "dagster_pipes", "sqlalchemy") if name in sys.modules) for _ in items]
