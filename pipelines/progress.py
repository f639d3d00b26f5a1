"""Progress of the long stages of a build (scan, read, reshape and validate, load, publish, export).

One small reporter for the scan, the Dagster assets and the CLI. A stage shows, at once:

- on a terminal (while `duban build` holds `terminal()` open): a live rich bar with counts and ETA;
- on anything else (cron, CI, a pipe): a plain line at most every DUBAN_PROGRESS_SECONDS
  (default 5) and one when a stage that lasted a second or more ends, e.g. `duban: read 1,200/2,000 reports, 38 s`;
- given a `log` function (the assets pass `context.log.info`): the same line as a log event, as often.

Everything is written to stderr, so stdout keeps the summary (or the JSON document of `--json`).
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

from pipelines.timings import timed

# seconds between two plain lines (or log events) of one stage
INTERVAL_ENV = "DUBAN_PROGRESS_SECONDS"


def interval() -> float:
    """Seconds between plain progress lines, from DUBAN_PROGRESS_SECONDS (default 5); anything but a number of 0 or more is refused."""
    text = os.environ.get(INTERVAL_ENV, "").strip() or "5"
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        from pipelines.errors import ConfigurationError

        raise ConfigurationError(f"{INTERVAL_ENV} must be a number of seconds of 0 or more, not {text!r}")
    return seconds


class _Display:
    """Where the CLI wants progress shown: a rich live display on a terminal, else plain lines on a stream."""

    def __init__(self, stream: TextIO, live: bool) -> None:
        self.stream = stream
        self.bars = None
        if live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=stream),
                redirect_stdout=True,
                redirect_stderr=True,  # Dagster's console log (--verbose) prints above the bars
            )

    def stop(self) -> None:
        """Stop the live display, leaving the finished bars on the screen; later stages show plain lines."""
        if self.bars is not None:
            self.bars.stop()
            self.bars = None

    def line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


_display: _Display | None = None


@contextmanager
def terminal(stream: TextIO | None = None, live: bool | None = None) -> Iterator[None]:
    """Show the progress of the stages run inside on stream (stderr): a live bar if it is a terminal."""
    global _display
    stream = stream or sys.stderr
    if live is None:
        live = stream.isatty() and os.environ.get("TERM") != "dumb"
    previous, _display = _display, _Display(stream, live)
    if _display.bars is not None:
        _display.bars.start()
    try:
        yield
    finally:
        _display.stop()
        _display = previous


def stop_display() -> None:
    """The stages are over (the summary comes next): stop the live display if there is one."""
    if _display is not None:
        _display.stop()


def plain(done: int, total: int, unit: str, verb: str, seconds: float) -> str:
    """`read 1,200/2,000 reports, 38 s`."""
    return f"{verb} {done:,}/{total:,} {unit}, {seconds:.0f} s"


class Stage:
    """One stage's counter; update it as work completes, close it when the stage ends."""

    def __init__(self, verb: str, total: int, unit: str, log: Callable[[str], None] | None = None) -> None:
        self.verb, self.total, self.unit, self.log = verb, total, unit, log
        self.done = 0
        self.started = time.monotonic()
        self.every = interval()
        self.last_line = self.last_log = self.started
        self.display = _display
        self.task = None
        self.bars = self.display.bars if self.display is not None else None
        if self.bars is not None:
            self.task = self.bars.add_task(verb, total=total, unit=unit, visible=total > 0)

    def text(self) -> str:
        return plain(self.done, self.total, self.unit, self.verb, time.monotonic() - self.started)

    def update(self, done: int, total: int | None = None) -> None:
        """done items out of total (unchanged if None) are finished."""
        self.done = done
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self.task is not None:
            self.bars.update(self.task, completed=done, total=self.total, visible=self.total > 0)
        elif self.display is not None and now - self.last_line >= self.every and done < self.total:
            self.display.line(f"duban: {self.text()}")
            self.last_line = now
        if self.log is not None and now - self.last_log >= self.every and done < self.total:
            self.log(self.text())
            self.last_log = now

    def advance(self, count: int = 1) -> None:
        self.update(self.done + count)

    def close(self) -> None:
        """The stage ended: the bar shows it complete, a last plain line or log event says how long it took."""
        if self.total <= 0:  # it turned out to have nothing to do
            return
        if self.task is not None:
            self.bars.update(self.task, completed=self.done, total=self.total)
            self.bars.stop_task(self.task)
        elif self.display is not None and (
            self.last_line > self.started or time.monotonic() - self.started >= min(1.0, self.every)
        ):  # a stage over in a moment stays quiet (a refusal right after it remains the only line)
            self.display.line(f"duban: {self.text()}")
        if self.log is not None:
            self.log(self.text())


@contextmanager
def stage(
    verb: str, total: int | None, unit: str = "reports", log: Callable[[str], None] | None = None
) -> Iterator[Stage]:
    """A Stage for the block, closed when it ends; total None: not known yet (given by update), nothing shown until then.

    Nothing is shown for a stage with nothing to do. The block's time is recorded for `--timings`.
    """
    with timed(verb):
        if total is not None and total <= 0:
            yield _Quiet(verb, unit)
            return
        current = Stage(verb, total or 0, unit, log)
        try:
            yield current
        finally:
            current.close()


class _Quiet(Stage):
    """A stage with nothing to do: accepts updates, shows nothing."""

    def __init__(self, verb: str, unit: str) -> None:
        self.verb, self.total, self.unit, self.log, self.done = verb, 0, unit, None, 0
        self.started = self.last_line = self.last_log = time.monotonic()
        self.every, self.display, self.task, self.bars = interval(), None, None, None
