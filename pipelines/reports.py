"""Find report files, read them into grids and say which publisher and period each covers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines.errors import NoPeriodError, PeriodOutOfRange, ReportRefused
from pipelines.periods import (
    Period,
    period_from_filename,
    period_from_title,
    publisher_from_title,
    year_out_of_range,
)
from pipelines.raw_files import list_raw_dir, read_raw_bytes
from pipelines.sniff import choose_reader


@dataclass
class RawReport:
    """One raw file as read: its grid of cells and what it says about itself."""

    path: Path
    source_file: str  # path relative to the raw directory, as analysts see it
    sha256: str
    modified_at: datetime
    encoding: str
    reader: str
    title: str | None
    publisher: str
    period: Period
    grid: pl.DataFrame


def modified_at(mtime_ns: int) -> datetime:
    """A file's modification time as a naive UTC datetime, to the microsecond (as the warehouse stores it)."""
    return datetime(1970, 1, 1) + timedelta(microseconds=mtime_ns // 1000)


def discover_report_files(raw_dir: Path) -> list[Path]:
    """Every candidate report under raw_dir (subfolders included), hidden files and junk left out, oldest first."""
    return list_raw_dir(raw_dir)[0]


# What polars' str.strip_chars() strips: Unicode White_Space (Python's str.strip() also strips \x1c–\x1f).
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
TITLE_LINES = 12  # non-empty lines looked at for the title


def title_candidates(grid: pl.DataFrame) -> list[str]:
    """Lines above the table that hold one text (a merged title repeats it): the title is among them.

    Only the first lines are looked at, in Python: the table below can be thousands of lines.
    """
    candidates: list[str] = []
    seen = 0
    for start in range(0, grid.height, 256):
        for cells in grid.get_column("cells").slice(start, 256).to_list():
            distinct = list(dict.fromkeys(t for c in cells or () if c is not None and (t := c.strip(WHITE_SPACE))))
            if not distinct:
                continue
            if len(distinct) > 1 or seen == TITLE_LINES:
                return [c for c in candidates if c]
            seen += 1
            candidates.append(distinct[0].lstrip("#").strip())
    return [c for c in candidates if c]


def title_of(grid: pl.DataFrame) -> str | None:
    """The report's title: the first line above the table that names a period, else the first such line."""
    candidates = title_candidates(grid)
    return next((c for c in candidates if period_from_title(c)), candidates[0] if candidates else None)


def read_report(path: Path, raw_dir: Path, data: bytes | None = None) -> RawReport:
    """Read one file (or its bytes, already read) into a RawReport, or refuse it with a reason a person can act on."""
    data = read_raw_bytes(path, raw_dir) if data is None else data
    if not data.strip():
        raise ReportRefused(path, "the file is empty")
    reader = choose_reader(path, data)
    grid, encoding = reader(path, data)
    title = title_of(grid)
    period = (period_from_title(title) if title else None) or period_from_filename(path.stem)
    if period is None:
        raise NoPeriodError(
            path,
            f"no reporting period found: the title {title!r} names no year and period (such as "
            "2021年…第一季度) and the file name has none either (such as heze-2021-Q1.txt); "
            "put the period in the title or the file name",
        )
    if out_of_range := year_out_of_range(period):
        raise PeriodOutOfRange(path, out_of_range)
    relative = path.relative_to(raw_dir)
    folder_publisher = relative.parts[0] if len(relative.parts) > 1 else None
    publisher = (
        (publisher_from_title(title) if title else None) or folder_publisher or path.stem.split("-")[0].split("_")[0]
    )
    return RawReport(
        path=path,
        source_file=relative.as_posix(),
        sha256=hashlib.sha256(data).hexdigest(),
        modified_at=modified_at(path.stat().st_mtime_ns),
        encoding=encoding,
        reader=reader.__name__,
        title=title,
        publisher=publisher,
        period=period,
        grid=grid,
    )
