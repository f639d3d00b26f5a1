"""What the raw directory holds, file by file, and what changed since the last look (cheap on thousands of files)."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from stat import S_ISREG
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipelines.atomic import write_text_atomic
from pipelines.errors import DubanError, UnreadableFile
from pipelines.parallel import map_chunks
from pipelines.raw_files import NOT_REGULAR, name_problem, raw_entries, storable_name, unreadable_reason
from pipelines.reports import read_report


@dataclass(frozen=True)
class FileState:
    """One raw file as last seen: its stat, content hash and the period it reports (or why it has none)."""

    mtime_ns: int
    size: int
    sha256: str
    period_key: str | None = None
    error: str | None = None


@dataclass
class Changes:
    """Files added, changed (new content) and removed since the previous scan, and junk skipped, by relative path."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # junk such as ~$x.xlsx or Thumbs.db (raw_files.JUNK_PATTERNS)

    @property
    def touched(self) -> list[str]:
        return sorted(self.added + self.changed)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def identify_files(tasks: list[tuple[str, str, str | None]]) -> list[tuple[str, FileState]]:
    """(root, relative name, staging root or None) → the file's state, read from disk (runs in worker processes).

    With a staging root, each readable report is staged there too, so that the build's run does
    not parse it a second time.
    """
    from pipelines.staging import StagingArea

    out = []
    for root, name, staging_root in tasks:
        path = Path(root) / name
        try:
            stat = path.stat()
            try:
                report = read_report(path, Path(root))
            except DubanError as problem:
                out.append((name, FileState(stat.st_mtime_ns, stat.st_size, _sha256(path), None, problem.reason)))
                continue
        except OSError as problem:  # gone or unreadable between listing and reading
            out.append((name, _refused(unreadable_reason(problem))))
            continue
        if staging_root:
            StagingArea(Path(staging_root)).write_raw(report)
        out.append((name, FileState(stat.st_mtime_ns, stat.st_size, report.sha256, report.period.key, None)))
    return out


def _refused(reason: str) -> FileState:
    """The state of a file that cannot be read at all: no stat, no hash, only the reason."""
    return FileState(0, -1, "", None, reason)


def scan_raw(
    root: Path,
    previous: dict[str, FileState],
    staging_root: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, FileState], Changes]:
    """The state of every file under root and the changes against previous.

    A file whose size and modification time are unchanged is not read again; one whose bytes are
    unchanged (same hash) keeps its period without being parsed again. New and changed files are
    read in worker processes when there are many. A file whose name is not UTF-8 or that cannot
    be read gets a state with only the reason, under its printable name; junk files are skipped.
    With staging_root, the reports read are staged there for the run that follows (parsed once).
    progress, if given, is called with (files read, files to read) as the new and changed files are read.
    """
    states: dict[str, FileState] = {}
    changes = Changes()
    to_read: list[str] = []
    candidates, junk = raw_entries(root)
    changes.skipped = [storable_name(entry.name) for entry in junk]
    for entry in candidates:
        name = entry.name
        if problem := name_problem(name):
            name = storable_name(name)
            states[name] = _refused(problem)
            if name not in previous:
                changes.added.append(name)
            continue
        try:
            if isinstance(entry.stat, OSError):
                raise entry.stat
            stat = entry.stat
            if not S_ISREG(stat.st_mode):
                raise UnreadableFile(name, NOT_REGULAR)
            before = previous.get(name)
            if before and before.sha256 and (before.mtime_ns, before.size) == (stat.st_mtime_ns, stat.st_size):
                states[name] = before
                continue
            if before and before.sha256 and before.sha256 == _sha256(entry.path):
                states[name] = FileState(stat.st_mtime_ns, stat.st_size, before.sha256, before.period_key, before.error)
                continue
        except (OSError, UnreadableFile) as error:
            states[name] = _refused(error.reason if isinstance(error, UnreadableFile) else unreadable_reason(error))
            if name not in previous:
                changes.added.append(name)
            continue
        to_read.append(name)
    staging = str(staging_root) if staging_root else None
    tasks = [(str(root), name, staging) for name in to_read]
    if progress is not None:
        progress(0, len(tasks))
    read = map_chunks(identify_files, tasks, progress=None if progress is None else lambda done: progress(done, len(tasks)))
    for name, state in read:
        states[name] = state
        (changes.changed if name in previous else changes.added).append(name)
    changes.removed = sorted(set(previous) - set(states))
    return states, changes


def encode_states(states: dict[str, FileState]) -> str:
    """A compact cursor string for the whole state (zlib-compressed JSON)."""
    raw = json.dumps({name: vars(state) for name, state in states.items()}, ensure_ascii=False)
    return base64.b64encode(zlib.compress(raw.encode("utf-8"), 6)).decode("ascii")


def decode_states(cursor: str | None) -> dict[str, FileState]:
    """The state a cursor string holds; an empty state for no cursor."""
    if not cursor:
        return {}
    raw = json.loads(zlib.decompress(base64.b64decode(cursor)).decode("utf-8"))
    return {name: FileState(**state) for name, state in raw.items()}


def load_states(path: Path) -> tuple[dict[str, FileState], str | None]:
    """The states saved at path (none if absent), and a warning if the file was unreadable or corrupt.

    A damaged manifest only costs a full re-read of the raw directory, so it is treated as absent.
    """
    if not path.exists():
        return {}, None
    try:
        return decode_states(path.read_text(encoding="ascii")), None
    except (OSError, ValueError, TypeError, AttributeError, zlib.error) as error:  # binascii, JSON, UTF-8 errors are ValueErrors
        return {}, f"the raw manifest {path} is unreadable or damaged ({error}); reading every file again"


def save_states(path: Path, states: dict[str, FileState]) -> None:
    """Save the states at path atomically (a full disk leaves the previous manifest whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, encode_states(states))


def files_by_period(states: dict[str, FileState]) -> dict[str, list[str]]:
    """Readable files grouped by the period they report, oldest first within a period."""
    grouped: dict[str, list[tuple[int, str]]] = {}
    for name, state in states.items():
        if state.period_key:
            grouped.setdefault(state.period_key, []).append((state.mtime_ns, name))
    return {period: [name for _, name in sorted(items)] for period, items in sorted(grouped.items())}
