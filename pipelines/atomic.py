"""Write state files atomically: a reader sees the old file or the new one, never a truncated one."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def fsync_path(path: Path) -> None:
    """Flush a file or folder to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def replacing(path: Path, durable: bool = True) -> Iterator[Path]:
    """A temporary path to write; on success it is synced and renamed over path, on failure removed.

    The temporary name holds the process id and a random suffix, so concurrent writers never share it.
    durable=False skips the sync (for caches whose readers take a damaged file for a missing one): a killed
    process still leaves the old file or the new one; only a power cut may leave the new one empty or short.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        if durable:
            fsync_path(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Replace path's content with data in one step."""
    with replacing(path, durable) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Replace path's content with text (UTF-8) in one step."""
    write_bytes_atomic(path, text.encode("utf-8"), durable)
