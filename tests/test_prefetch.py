"""read_ahead gives each key's value in order, reads at most one key ahead, and raises a read's error at its key."""

from __future__ import annotations

import threading

import pytest

from pipelines.prefetch import read_ahead


def test_values_come_in_order_with_one_read_ahead_in_another_thread() -> None:
    started: list[str] = []
    threads: set[str] = set()

    def read(key: str) -> str:
        started.append(key)
        threads.add(threading.current_thread().name)
        return key.upper()

    seen = []
    for key, value in read_ahead(["a", "b", "c", "d"], read):
        seen.append((key, value))
        assert len(started) <= len(seen) + 1  # never more than the next key read ahead
    assert seen == [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]
    assert threading.current_thread().name not in threads


def test_a_failed_read_is_raised_at_its_key_after_the_earlier_ones() -> None:
    def read(key: int) -> int:
        if key == 3:
            raise ValueError("period 3 is damaged")
        return key * 10

    got = []
    with pytest.raises(ValueError, match="period 3 is damaged"):
        for key, value in read_ahead([1, 2, 3, 4], read):
            got.append(value)
    assert got == [10, 20]


def test_nothing_to_read_reads_nothing() -> None:
    assert list(read_ahead([], lambda key: pytest.fail("read called"))) == []
