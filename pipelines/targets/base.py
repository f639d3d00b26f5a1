"""What every warehouse target offers the build and the readers."""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Callable, TypeVar

import duckdb

from pipelines.staging import StagingArea

T = TypeVar("T")
Say = Callable[[str], None]


class Target:
    """A warehouse a build writes and readers read (a DuckDB file, or a DuckLake)."""

    is_lake: bool = False
    spec: str  # the setting that names it (--warehouse / DUBAN_WAREHOUSE)
    data_path: str | None = None  # a DuckLake's Parquet folder
    label: str  # how messages name it
    work_dir: Path  # local folder for the staging area, the raw manifest and serving snapshots
    output_dir: Path  # where the Parquet export and the briefing pages go

    def __str__(self) -> str:
        return self.label

    def exists(self) -> bool:
        """Whether a build has written it (readers need one)."""
        raise NotImplementedError

    def check_readable(self) -> None:
        """Raise a DubanError unless it is missing or a readable duban warehouse."""
        raise NotImplementedError

    def read(self, config: dict | None = None) -> duckdb.DuckDBPyConnection:
        """A read-only connection on which the warehouse's tables and views resolve unqualified (close it)."""
        raise NotImplementedError

    def attach(self, con: duckdb.DuckDBPyConnection, alias: str) -> None:
        """ATTACH the warehouse read-only to con as alias (its current data: the published file, the lake's latest snapshot)."""
        raise NotImplementedError

    def before_build(self, say: Say, will_load: bool) -> None:
        """Put things right before a build writes (a file: its working copy against the last publish)."""

    def build_lock(self, say: Say) -> AbstractContextManager:
        """Held for a whole `duban build` (a file takes one writer; a lake takes many)."""
        raise NotImplementedError

    def write(self, body: Callable[[duckdb.DuckDBPyConnection], T], say: Say, message: dict[str, Any],
              publishing: Callable[[], AbstractContextManager] = nullcontext) -> T:
        """Run body on a writable connection (schema in place) and make its changes visible to readers as a whole.

        message names the run and the reports ({"run_id": …, "reports": […]}); a lake records it with the snapshot.
        publishing() wraps the publish (a progress stage whose update(done MB, total MB) is called when known).
        """
        raise NotImplementedError

    def published_at(self):
        """When readers last got new data (a datetime)."""
        raise NotImplementedError

    def version(self) -> object:
        """Changes whenever a build makes new data visible (serving endpoints poll it)."""
        raise NotImplementedError

    def manifest_path(self, raw_dir: Path) -> Path:
        """Where the raw directory's manifest is cached."""
        return self.work_dir / "raw-manifest"

    def staging(self, raw_dir: Path) -> StagingArea:
        """The staging area of builds of raw_dir: one shared area on a file (one build at a time); on a lake,
        where builds of other folders run at once, each raw folder keeps its own period lists."""
        scope = hashlib.sha256(str(Path(raw_dir).resolve()).encode()).hexdigest()[:12] if self.is_lake else ""
        return StagingArea(self.work_dir / "staging", scope)

    def scoped(self) -> bool:
        """Whether a build speaks only for the publishers it has files for (a lake shared by many writers)."""
        return self.is_lake
