"""Checks before a build writes: the published file is a readable warehouse nobody holds open for writing,
and the working database is exactly what was last published.

At each publish, `record_published` writes `.work/published.json` (atomically): the sha256 of the copy
that was published (the working database and the published file are byte for byte the same then) and
the published file's size, modification time and inode. Before the next build writes, the working
database must still have that sha256, have no pending write-ahead log, and the published file must be
the one recorded; otherwise the working database is discarded and copied again from the published file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import BinaryIO, Callable

import duckdb

from pipelines.errors import WarehouseLocked, WarehouseModified, WarehouseUnreadable

STATE = "published.json"
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


def state_path(working: Path) -> Path:
    return working.parent / STATE


def wal_path(database: Path) -> Path:
    return database.with_name(database.name + ".wal")


def copy_hashing(source: Path, target: BinaryIO, progress: Callable[[int], None] | None = None) -> str:
    """Copy source into the open file target; returns the sha256 of the bytes copied.

    progress, if given, is called with the bytes copied so far after each MB.
    """
    digest = hashlib.sha256()
    copied = 0
    with source.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            target.write(chunk)
            copied += len(chunk)
            if progress is not None:
                progress(copied)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _identity(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def record_published(published: Path, working: Path, sha256: str) -> None:
    """Remember what was just published, so the next build can tell whether the working database changed."""
    state = {"sha256": sha256, "published": _identity(published)}
    temporary = state_path(working).with_name(f".{STATE}.{os.getpid()}")
    with temporary.open("w", encoding="utf-8") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, state_path(working))


def _read_state(working: Path) -> dict | None:
    try:
        state = json.loads(state_path(working).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("sha256"), str) else None


def open_error(path: Path, error: duckdb.Error) -> WarehouseLocked | WarehouseUnreadable:
    """The duban error for a DuckDB file that could not be opened: held by another program, or unreadable."""
    path = getattr(path, "published", path)  # a file target names its published file
    message = str(error)
    held = _LOCK_HOLDER.search(message)
    if held:
        return WarehouseLocked(path, held.group(2), held.group(1))
    reason = message.strip().splitlines()[0] if message.strip() else type(error).__name__
    reason = reason.removeprefix("IO Error: ")
    for named in (f'The file "{path}"', f'"{path}"', str(path)):
        reason = reason.replace(named, "the file")
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        reason = "the file is empty"
    return WarehouseUnreadable(path, reason)


def check_published(published: Path) -> None:
    """Raise WarehouseLocked or WarehouseUnreadable unless the published file is missing or a readable warehouse."""
    if not published.exists():
        return
    try:
        with duckdb.connect(str(published), read_only=True) as con:
            con.execute("SELECT count(*) FROM dim_report").fetchone()
    except duckdb.CatalogException:
        raise WarehouseUnreadable(published, "a DuckDB file without duban's tables") from None
    except duckdb.Error as error:
        raise open_error(published, error) from None


def check_working_free(working: Path) -> None:
    """Raise WarehouseLocked if another program holds the working database open."""
    if not working.exists():
        return
    try:
        duckdb.connect(str(working)).close()
    except duckdb.Error as error:
        opened = open_error(working, error)
        if isinstance(opened, WarehouseLocked):
            raise opened from None
        # anything else: the checks before this one found the file sound; let the build report it


# The working database's sha256 as this process last read it, with the file's identity then: a build checks the
# working database before it opens Dagster and again when it writes, and the second check need not read it again.
_hashed: dict[Path, tuple[tuple[int, ...], str]] = {}


def _working_sha256(working: Path) -> str:
    """The working database's sha256, read again only if the file may have changed since this process last read it.

    The file is the same when its device, inode, size, modification and change times are: any write moves the
    change time, which no program can set back."""
    st = working.stat()
    identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    known = _hashed.get(working)
    if known is not None and known[0] == identity:
        return known[1]
    sha256 = file_sha256(working)
    _hashed[working] = (identity, sha256)
    return sha256


def _restore(published: Path, working: Path) -> None:
    """Replace the working database with a copy of the published file (complete before it is renamed)."""
    temporary = working.with_name(f".{working.name}.restoring-{os.getpid()}")
    with temporary.open("wb") as f:
        sha256 = copy_hashing(published, f)
        f.flush()
        os.fsync(f.fileno())
    wal_path(working).unlink(missing_ok=True)
    os.replace(temporary, working)
    record_published(published, working, sha256)


def _objects(path: Path) -> dict[str, int]:
    """Every table and view of a DuckDB file with its row count (-1 for a view), read-only."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = con.execute(
            """SELECT table_name, 'table' FROM duckdb_tables() WHERE NOT internal
               UNION ALL SELECT view_name, 'view' FROM duckdb_views() WHERE NOT internal"""
        ).fetchall()
        return {
            name: (con.execute(f'SELECT count(*) FROM "{name.replace(chr(34), chr(34) * 2)}"').fetchone()[0] if kind == "table" else -1)
            for name, kind in names
        }


def _differences(changed: Path, reference: Path) -> str:
    """What a changed copy of the warehouse holds that duban's own copy does not: added objects, other row counts."""
    theirs, ours = _objects(changed), _objects(reference)
    parts = [f"adds {name}" for name in sorted(set(theirs) - set(ours))]
    parts += [f"drops {name}" for name in sorted(set(ours) - set(theirs))]
    parts += [
        f"{name} {ours[name]} → {theirs[name]} rows"
        for name in sorted(set(ours) & set(theirs))
        if ours[name] != theirs[name]
    ]
    return ", ".join(parts) or "rows changed in place"


def keep_modified_published(published: Path, working: Path) -> str | None:
    """If the published file was changed outside duban since the last publish, keep a copy of it and say what changed.

    The build then publishes duban's own data over it (from the working database, which must still be
    what was published); the copy keeps whatever the other program added. Raises WarehouseModified if
    the working database cannot be trusted either.
    """
    state = _read_state(working)
    if state is None or not published.exists() or state.get("published") == _identity(published):
        return None
    if file_sha256(published) == state["sha256"]:  # same bytes (touched, or copied back): nothing was changed
        record_published(published, working, state["sha256"])
        return None
    stamp = time.strftime("%Y%m%dT%H%M%S")
    kept = published.with_name(f"{published.stem}.{stamp}.modified{published.suffix}")
    shutil.copy2(published, kept)
    if not working.exists() or wal_path(working).exists() or file_sha256(working) != state["sha256"]:
        raise WarehouseModified(published, kept)
    record_published(published, working, state["sha256"])  # the working database stays the one to build on
    return (
        f"duban: the published warehouse was changed outside duban since the last build "
        f"({_differences(kept, working)}); kept that file as {kept.name} and publishing duban's own data over it"
    )


def verify_working(published: Path, working: Path) -> str | None:
    """Make the working database what was last published; returns a message saying what was done, if anything."""
    wal = wal_path(working)
    if not working.exists() and not wal.exists():
        return None
    if not published.exists():
        working.unlink(missing_ok=True)
        wal.unlink(missing_ok=True)
        state_path(working).unlink(missing_ok=True)
        return "duban: there is no published warehouse, so the working database was discarded; building afresh"
    state = _read_state(working)
    if state is None:
        reason = "there is no record of what was last published"
    elif wal.exists():
        reason = "it has writes that no build published"
    elif state.get("published") != _identity(published):
        reason = "the published file was replaced or changed since the last build"
    elif not working.exists() or _working_sha256(working) != state["sha256"]:
        reason = "it was changed after the last publish, outside a build or by a build that did not finish"
    else:
        return None
    _restore(published, working)
    return f"duban: the working database differed from the published warehouse ({reason}); restored it from the published warehouse"
