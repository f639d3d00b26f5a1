"""The working database the pipeline writes, and its atomic publication as the file analysts open."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

import duckdb

from pipelines.atomic import fsync_path
from pipelines.faults import pause_point
from pipelines.working import copy_hashing, record_published


def work_dir(published: Path) -> Path:
    """Where the pipeline keeps its working database and staging files, beside the published file."""
    return published.parent / ".work"


def working_path(published: Path) -> Path:
    """The working database for a published warehouse file."""
    return work_dir(published) / published.name


def prepare_working(published: Path) -> Path:
    """The working database, started from the published file when there is none yet."""
    working = working_path(published)
    working.parent.mkdir(parents=True, exist_ok=True)
    if not working.exists() and published.exists():
        shutil.copyfile(published, working)
    return working


def publish(published: Path, progress: Callable[[int, int], None] | None = None) -> Path:
    """Checkpoint the working database and rename a complete copy over the published file.

    Readers that opened the old file keep reading it; readers that open the path afterwards see the new
    one. Nothing ever sees a half-written file: the copy is complete and synced before the rename.
    progress, if given, is called with (bytes copied, bytes to copy).
    """
    working = working_path(published)
    with duckdb.connect(str(working)) as con:
        con.execute("CHECKPOINT")
    for leftover in published.parent.glob(f".{published.name}.publishing-*"):
        leftover.unlink(missing_ok=True)  # from a publish that was killed halfway
    staging = published.with_name(f".{published.name}.publishing-{os.getpid()}")
    with staging.open("wb") as f:
        size = working.stat().st_size
        sha256 = copy_hashing(working, f, None if progress is None else lambda done: progress(done, size))
        f.flush()
        os.fsync(f.fileno())
    pause_point("publish")  # the new copy is complete but not yet renamed over the published file
    os.replace(staging, published)
    fsync_path(published.parent)
    record_published(published, working, sha256)  # what the next build checks the working database against
    return published
