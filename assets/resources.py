"""Resources: where raw reports live and where the warehouse is, from DUBAN_RAW and DUBAN_WAREHOUSE."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from pipelines.load import ensure_schema
from pipelines.lock import build_lock
from pipelines.settings import DEFAULT_RAW_DIR, DEFAULT_WAREHOUSE, configured_paths  # noqa: F401 (re-exported)
from pipelines.publish import prepare_working, publish, work_dir, working_path
from pipelines.working import check_working_free, keep_modified_published, verify_working
from pipelines.staging import StagingArea



class RawDirectory(dg.ConfigurableResource):
    """The folder that holds raw reports (subfolders such as raw/<publisher>/ included)."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path).resolve()


class Warehouse(dg.ConfigurableResource):
    """The published DuckDB file analysts open, with the working copy and staging files the pipeline writes."""

    path: str

    @property
    def published(self) -> Path:
        return Path(self.path).resolve()

    @property
    def staging(self) -> StagingArea:
        return StagingArea(work_dir(self.published) / "staging")

    @contextmanager
    def connect_working(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection to the working database, its schema in place."""
        working = prepare_working(self.published)
        with DuckDBResource(database=str(working)).get_connection() as con:
            ensure_schema(con)
            yield con

    def publish(self, progress=None) -> Path:
        """Atomically replace the published file with the working database; progress(bytes copied, bytes)."""
        return publish(self.published, progress)

    @contextmanager
    def writing(self, say: Callable[[str], None]) -> Iterator[None]:
        """Hold the warehouse's build lock, with the working database checked against the last publish.

        Within `duban build`, which holds the lock already, this does not wait and finds nothing to fix.
        """
        with build_lock(work_dir(self.published), say):
            for message in (keep_modified_published(self.published, working_path(self.published)),
                            verify_working(self.published, working_path(self.published))):
                if message:
                    say(message)
            check_working_free(working_path(self.published))
            yield
