"""Spread per-file work over the machine's cores with worker processes (polars is not fork-safe: spawn)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Below this many items the start-up of worker processes (about a second) costs more than it saves.
MIN_ITEMS = int(os.environ.get("DUBAN_PARALLEL_MIN_ITEMS", "64"))


def workers() -> int:
    """Worker processes to use: DUBAN_WORKERS, else one per core."""
    return max(1, int(os.environ.get("DUBAN_WORKERS", "0")) or os.cpu_count() or 1)


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def map_chunks(function: Callable[[list[T]], list[R]], items: Sequence[T], chunk_size: int = 32) -> list[R]:
    """function applied to chunks of items, in worker processes when there are enough items; results in order.

    function must be a module-level function (it is sent to the workers by name).
    """
    count = workers()
    if count == 1 or len(items) < MIN_ITEMS:
        return function(list(items))
    chunks = chunked(items, chunk_size)
    with ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [result for part in pool.map(function, chunks) for result in part]
