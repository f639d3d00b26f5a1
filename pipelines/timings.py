"""Where one `duban build` process spent its time: seconds per stage, for `duban build --timings`.

Stages record themselves (every progress stage, and blocks wrapped in `timed`); the build command
adds the Dagster run's own wall time, and what is left of the run once its stages are taken out is
Dagster's bookkeeping (run creation, event log writes, materializations, step orchestration).
"dagster start-up" is importing Dagster, opening its instance and resolving the job, before the run.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Iterator

_IMPORTED = time.monotonic()

# the order in which stages are shown; anything recorded under another name comes after them
ORDER = ("scan", "dagster start-up", "read", "reshape and validate", "load", "checks", "publish", "export", "briefing")
# stages timed by the build command itself, before the Dagster run starts
OUTSIDE_RUN = ("scan", "dagster start-up")

_seconds: dict[str, float] = {}


def record(name: str, seconds: float) -> None:
    """Add seconds to the stage's total for this process."""
    _seconds[name] = _seconds.get(name, 0.0) + max(0.0, seconds)


_open: list[list] = []  # the timed blocks now running, innermost last: [name, seconds of their inner blocks]


@contextmanager
def timed(name: str) -> Iterator[None]:
    """Time the block as (part of) the named stage; a block inside another counts for itself only."""
    started = time.monotonic()
    _open.append([name, 0.0])
    try:
        yield
    finally:
        _, inner = _open.pop()
        elapsed = time.monotonic() - started
        record(name, elapsed - inner)
        if _open:
            _open[-1][1] += elapsed


def reset() -> None:
    """Forget what was recorded (a new build in the same process)."""
    _seconds.clear()
    _open.clear()


def since_process_start() -> float:
    """Wall seconds since this process started (Linux: from /proc; elsewhere since this module was imported)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22: start time after boot
        with open("/proc/uptime", encoding="ascii") as uptime:
            return max(0.0, float(uptime.read().split()[0]) - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED


def stage_seconds() -> dict[str, float]:
    """Seconds per stage recorded so far, in ORDER, then others by name."""
    known = [name for name in ORDER if name in _seconds]
    return {name: _seconds[name] for name in known + sorted(set(_seconds) - set(ORDER))}


def account(total: float, run: float | None) -> dict[str, float]:
    """Each stage's seconds, plus Dagster's bookkeeping (the run minus its stages) and the rest of the process.

    total: the process's wall time so far; run: the Dagster run's wall time (None when nothing was run).
    """
    stages = stage_seconds()
    result = dict(stages)
    inside_run = sum(seconds for name, seconds in stages.items() if name not in OUTSIDE_RUN)
    if run is not None:
        result["dagster bookkeeping"] = max(0.0, run - inside_run)
        outside = total - max(run, inside_run) - sum(stages.get(name, 0.0) for name in OUTSIDE_RUN)
    else:
        outside = total - sum(stages.values())
    result["start-up, planning and summary"] = max(0.0, outside)
    result["total"] = total
    return result


def format_account(seconds: dict[str, float]) -> list[str]:
    """`  load                       1.84 s   23 %` lines, the total last."""
    total = seconds.get("total") or 0.0
    width = max(len(name) for name in seconds)
    lines = ["timings (this run, wall clock):"]
    for name, value in seconds.items():
        share = "" if name == "total" or not total else f"  {100 * value / total:4.0f} %"
        lines.append(f"  {name:<{width}}  {value:8.2f} s{share}")
    return lines
