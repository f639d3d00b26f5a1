"""Exclusive locks so that concurrent `duban build` processes wait for each other instead of colliding.

A lock is an fcntl.flock on a file that holds the holder's PID and start time. The operating system
releases it when the holder exits, however it exits, so a lock is never left behind by a dead build.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterator

from pipelines.errors import WarehouseFolderUnusable

BUILD_LOCK = "build.lock"
HOME_LOCK = ".duban-instance.lock"


def _holder(fd: int) -> tuple[str, str]:
    """The PID and start time written by the process that holds the lock ("?" when unknown)."""
    try:
        text = os.pread(fd, 200, 0).decode("ascii", "replace").split()
    except OSError:
        text = []
    pid = text[0] if text and text[0].isdigit() else "?"
    started = time.strftime("%H:%M:%S", time.localtime(float(text[1]))) if len(text) > 1 and _number(text[1]) else "?"
    return pid, started


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@contextmanager
def exclusive(path: Path, on_wait: Callable[[str, str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on path; if another process holds it, call on_wait(pid, started) and wait."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(*_holder(fd))
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {time.time():.3f}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


_HELD: set[Path] = set()  # build locks this process holds: taking one again (a run inside `duban build`) does not wait


@contextmanager
def build_lock(lock_dir: Path, say: Callable[[str], None]) -> Iterator[None]:
    """One build at a time per warehouse: the lock file is lock_dir/build.lock (the warehouse's .work folder).

    `duban build` takes it for the whole build; the asset that loads and publishes takes it too, so runs
    started by `dagster dev`, the sensor or a schedule wait for a build and the other way round.
    """
    key = lock_dir.resolve()
    if key in _HELD:
        yield
        return
    with ExitStack() as stack:
        try:
            lock_dir.mkdir(parents=True, exist_ok=True)
            stack.enter_context(
                exclusive(lock_dir / BUILD_LOCK, lambda pid, started: say(
                    f"duban: waiting for the build of PID {pid} (started {started})…"
                ))
            )
        except OSError as error:
            raise WarehouseFolderUnusable(lock_dir.parent, error) from None
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
