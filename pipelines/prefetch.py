"""Read the next item's input in a background thread while the current one is worked on."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def read_ahead(keys: Iterable[K], read: Callable[[K], V]) -> Iterator[tuple[K, V]]:
    """(key, read(key)) for each key in order, with the next key's read already running in a second thread.

    A period's staged rows are read from Parquet and JSON while DuckDB loads the one before (both release
    Python's lock for most of their work); at most one read runs ahead. An error in a read is raised when
    its key comes up.
    """
    keys = list(keys)
    if not keys:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="duban-read-ahead") as reader:
        pending = reader.submit(read, keys[0])
        for position, key in enumerate(keys):
            value = pending.result()
            if position + 1 < len(keys):
                pending = reader.submit(read, keys[position + 1])
            yield key, value
