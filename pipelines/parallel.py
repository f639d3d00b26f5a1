"""Spread per-file work over the machine's cores with worker processes (polars is not fork-safe: spawn)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Sequence, TypeVar

from pipelines.settings import whole_number

T = TypeVar("T")
R = TypeVar("R")

# Below this many items the start-up of worker processes (about a second) costs more than it saves.
MIN_ITEMS = int(os.environ.get("DUBAN_PARALLEL_MIN_ITEMS", "64"))


def workers() -> int:
    """Worker processes to use: DUBAN_WORKERS, else one per core."""
    return max(1, whole_number("DUBAN_WORKERS", 0, minimum=0, meaning="(0: one per core)") or os.cpu_count() or 1)


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _counted(chunks: list[list[T]]) -> list[tuple[int, list[T]]]:
    """Each chunk with the number of items up to and including it."""
    done, out = 0, []
    for chunk in chunks:
        done += len(chunk)
        out.append((done, chunk))
    return out


def map_chunks(
    function: Callable[[list[T]], list[R]],
    items: Sequence[T],
    chunk_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> list[R]:
    """function applied to chunks of items, in worker processes when there are enough items; results in order.

    function must be a module-level function (it is sent to the workers by name). progress, if given,
    is called with the number of items done after each chunk (then a few items run serially chunk by chunk).
    """
    count = workers()
    results: list[R] = []
    if count == 1 or len(items) < MIN_ITEMS:
        if progress is None:
            return function(list(items))
        for done, chunk in _counted(chunked(items, chunk_size)):
            results.extend(function(chunk))
            progress(done)
        return results
    chunks = chunked(items, chunk_size)
    with ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn")) as pool:
        for (done, _), part in zip(_counted(chunks), pool.map(function, chunks)):
            results.extend(part)
            if progress is not None:
                progress(done)
    return results
