"""Which entries of the raw directory are reports, which are junk to skip, and reading one safely."""

from __future__ import annotations

import fnmatch
import os
import stat
from pathlib import Path

from pipelines.errors import BadFileName, UnreadableFile

# Files that shared folders collect and that are never reports: skipped (and listed), not refused.
# Matched case-insensitively against the file name. Documented in README.md ("Supported input").
JUNK_PATTERNS = ("~$*", "Thumbs.db", "desktop.ini", ".DS_Store", "*.bak", "*~", ".#*")
# Files kept in the raw directory on purpose: ignored without a word.
IGNORED_NAMES = {".gitkeep", "README.md"}
NOT_REGULAR = "the entry is not a regular file (a pipe, socket or device); remove it from the raw directory"


def is_junk(name: str) -> bool:
    """Whether a file name matches one of JUNK_PATTERNS."""
    return any(fnmatch.fnmatchcase(name.lower(), pattern.lower()) for pattern in JUNK_PATTERNS)


def storable_name(text: str) -> str:
    """A path as text that can be printed and stored: bytes that are not UTF-8 shown as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def name_problem(relative: str) -> str | None:
    """Why a file's name cannot be stored in the warehouse, or None."""
    if storable_name(relative) != relative:
        return "the file name is not valid UTF-8; rename it"
    return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def list_raw_dir(raw_dir: Path) -> tuple[list[Path], list[Path]]:
    """(candidate reports, junk files) under raw_dir, subfolders included, hidden ones left out.

    A candidate is any entry that is not a folder — broken links and pipes included, so that
    reading them fails by name rather than passing unnoticed. Candidates come oldest first.
    """
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"raw directory {raw_dir} does not exist; create it or pass --raw DIR")
    files, junk = [], []
    for path in raw_dir.rglob("*"):
        parts = path.relative_to(raw_dir).parts
        if path.is_dir() or any(part.startswith(".") for part in parts[:-1]) or path.name in IGNORED_NAMES:
            continue
        if is_junk(path.name):
            junk.append(path)
        elif not path.name.startswith("."):
            files.append(path)
    return sorted(files, key=lambda p: (_mtime(p), p.as_posix())), sorted(junk)


def read_raw_bytes(path: Path, raw_dir: Path) -> bytes:
    """A raw file's bytes; refuses a name that is not UTF-8, a file that is not regular, and read errors."""
    shown = storable_name(str(path))
    if problem := name_problem(path.relative_to(raw_dir).as_posix()):
        raise BadFileName(shown, problem)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise UnreadableFile(shown, NOT_REGULAR)
        return path.read_bytes()
    except OSError as error:
        raise UnreadableFile(shown, unreadable_reason(error)) from None


def unreadable_reason(error: OSError) -> str:
    """The reason to give for a file that cannot be opened or read."""
    return f"the file cannot be read ({error.strerror or error}); check that it exists and that duban may read it"
