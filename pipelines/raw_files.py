"""Which entries of the raw directory are reports, which are junk to skip, and reading one safely."""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import BadFileName, UnreadableFile

# Files that shared folders collect and that are never reports: skipped (and listed), not refused.
# Matched case-insensitively against the file name. Documented in README.md ("Supported input").
JUNK_PATTERNS = ("~$*", "Thumbs.db", "desktop.ini", ".DS_Store", "*.bak", "*~", ".#*")
# Files kept in the raw directory on purpose: ignored without a word.
IGNORED_NAMES = {".gitkeep", "README.md"}
NOT_REGULAR = "the entry is not a regular file (a pipe, socket or device); remove it from the raw directory"


_JUNK = re.compile("|".join(fnmatch.translate(pattern.lower()) for pattern in JUNK_PATTERNS))


def is_junk(name: str) -> bool:
    """Whether a file name matches one of JUNK_PATTERNS."""
    return _JUNK.match(name.lower()) is not None


def storable_name(text: str) -> str:
    """A path as text that can be printed and stored: bytes that are not UTF-8 shown as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def name_problem(relative: str) -> str | None:
    """Why a file's name cannot be stored in the warehouse, or None."""
    if storable_name(relative) != relative:
        return "the file name is not valid UTF-8; rename it"
    return None


@dataclass(frozen=True)
class RawEntry:
    """A file under the raw directory: its name relative to it (with /), its stat or why it has none, and the folder."""

    name: str
    stat: os.stat_result | OSError
    raw_dir: Path

    @property
    def path(self) -> Path:
        return self.raw_dir / self.name  # made on demand: a Path per file costs more than listing it


def raw_entries(raw_dir: Path) -> tuple[list[RawEntry], list[RawEntry]]:
    """(candidate reports, junk files) under raw_dir, subfolders included, hidden ones left out.

    A candidate is any entry that is not a folder — broken links and pipes included, so that
    reading them fails by name rather than passing unnoticed. Candidates come oldest first (by the
    modification time of what a link points to). Linked folders are neither read nor descended into.
    A folder that cannot be listed is a candidate too (reading it fails with the reason). One scandir
    per folder and one stat per file: thousands of files are listed in milliseconds.
    """
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"raw directory {raw_dir} does not exist; create it or pass --raw DIR")
    files, junk = [], []
    folders = [(raw_dir, "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            with os.scandir(folder) as listing:
                listed = list(listing)
        except OSError as error:  # a folder that cannot be listed is refused by name, never passed over
            files.append(RawEntry(prefix.rstrip("/") or ".", error, raw_dir))
            continue
        for entry in listed:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not entry.name.startswith(".") and not entry.is_symlink():
                    folders.append((entry.path, f"{prefix}{entry.name}/"))
                continue
            junk_file = is_junk(entry.name)
            if entry.name in IGNORED_NAMES or (entry.name.startswith(".") and not junk_file):
                continue
            try:
                status: os.stat_result | OSError = entry.stat()
            except OSError as error:
                status = error
            (junk if junk_file else files).append(RawEntry(prefix + entry.name, status, raw_dir))
    files.sort(key=lambda e: (e.stat.st_mtime if isinstance(e.stat, os.stat_result) else 0.0, e.name))
    junk.sort(key=lambda e: e.name.split("/"))
    return files, junk


def list_raw_dir(raw_dir: Path) -> tuple[list[Path], list[Path]]:
    """(candidate reports, junk files) under raw_dir as paths, as raw_entries finds and orders them."""
    files, junk = raw_entries(raw_dir)
    return [e.path for e in files], [e.path for e in junk]


def read_raw_bytes(path: Path, raw_dir: Path) -> bytes:
    """A raw file's bytes; refuses a name that is not UTF-8, a file that is not regular, and read errors."""
    shown = storable_name(str(path))
    if problem := name_problem(path.relative_to(raw_dir).as_posix()):
        raise BadFileName(shown, problem)
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):  # a folder raw_entries could not list: say why, as the scan does
            with os.scandir(path):
                pass
            raise UnreadableFile(shown, "the folder could not be listed when the raw directory was read; run the build again")
        if not stat.S_ISREG(mode):
            raise UnreadableFile(shown, NOT_REGULAR)
        return path.read_bytes()
    except OSError as error:
        raise UnreadableFile(shown, unreadable_reason(error)) from None


def unreadable_reason(error: OSError) -> str:
    """The reason to give for a file that cannot be opened or read."""
    return f"the file cannot be read ({error.strerror or error}); check that it exists and that duban may read it"
