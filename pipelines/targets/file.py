"""The default target: one DuckDB file, built in a working copy and published whole by an atomic rename."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Callable

import duckdb

from pipelines.load import ensure_schema
from pipelines.lock import build_lock
from pipelines.publish import prepare_working, publish, work_dir, working_path
from pipelines.serve import published_identity
from pipelines.targets.base import Say, T, Target
from pipelines.working import check_published, check_working_free, keep_modified_published, verify_working


class FileTarget(Target):
    """A DuckDB file: one writer at a time (the build lock), readers see whole published copies."""

    def __init__(self, published: Path):
        self.published = published
        self.spec = self.label = str(published)
        self.work_dir = work_dir(published)
        self.output_dir = published.parent

    def exists(self) -> bool:
        return self.published.exists()

    def check_readable(self) -> None:
        check_published(self.published)

    def read(self, config: dict | None = None) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.published), read_only=True, config=config or {})

    def attach(self, con: duckdb.DuckDBPyConnection, alias: str) -> None:
        path = "'" + str(self.published).replace("'", "''") + "'"  # ATTACH takes no bound parameters
        con.execute(f"ATTACH {path} AS {alias} (READ_ONLY)")

    def before_build(self, say: Say, will_load: bool) -> None:
        """A published file changed outside duban is kept aside and duban's own data put back; the working copy is verified."""
        working = working_path(self.published)
        kept = keep_modified_published(self.published, working)  # checked on every build, even one with nothing new
        if kept:
            say(kept)
            if not will_load:  # nothing to load: put duban's last published data back at once
                publish(self.published)
                say(f"duban: republished duban's own data at {self.published}")
        if will_load:
            restored = verify_working(self.published, working)
            if restored:
                say(restored)
            check_working_free(working)

    def build_lock(self, say: Say):
        return build_lock(self.work_dir, say)

    def write(self, body: Callable[[duckdb.DuckDBPyConnection], T], say: Say, message: dict[str, Any],
              publishing: Callable[[], AbstractContextManager] = nullcontext) -> T:
        """body runs on the working database (its own transactions), which is then published whole."""
        with build_lock(self.work_dir, say):
            working = working_path(self.published)
            for note in (keep_modified_published(self.published, working), verify_working(self.published, working)):
                if note:
                    say(note)
            check_working_free(working)
            with duckdb.connect(str(prepare_working(self.published))) as con:
                ensure_schema(con)
                result = body(con)
            with publishing() as progress:
                megabytes = lambda size: -(-size >> 20)  # noqa: E731 (rounded up)
                update = None if progress is None else lambda done, total: progress.update(megabytes(done), megabytes(total))
                publish(self.published, update)
        return result

    def published_at(self):
        from datetime import datetime

        return datetime.fromtimestamp(self.published.stat().st_mtime)

    def version(self) -> object:
        return published_identity(self.published) if self.published.exists() else None
