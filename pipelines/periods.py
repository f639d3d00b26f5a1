"""Reporting periods: which year and quarter (or month) a report covers, from its title or file name."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from pipelines.contracts import table

_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4}

# The years a report may cover: those dim_period's contract allows (schemas/tables/dim_period.toml).
_contract_year = table("dim_period").column("year")
FIRST_YEAR, LAST_YEAR = int(_contract_year.ge), int(_contract_year.le)

# Cumulative or quarterly wording → the last month the report covers.
_PERIOD_WORDS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"前三季度"), 9),
    (re.compile(r"上半年"), 6),
    (re.compile(r"全年|年度工作|第四季度|四季度"), 12),
    (re.compile(r"第?([一二三四])季度"), 0),  # 0: take the quarter from the match
]
_MONTH_RANGE = re.compile(r"(?<!\d)(\d{1,2})\s*[-—–~至到]\s*(\d{1,2})\s*月(?:份)?")
_YEAR = re.compile(r"((?:19|20)\d{2})\s*年")
_FILENAME_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_FILENAME_QUARTER = re.compile(r"[Qq]([1-4])(?!\d)")
_FILENAME_MONTH = re.compile(r"[Mm](\d{1,2})(?!\d)")


@dataclass(frozen=True)
class Period:
    """One reporting period: a quarter (key ``2021Q1``) or a month-end (key ``2021M11``)."""

    year: int
    end_month: int

    @property
    def quarter(self) -> int | None:
        return self.end_month // 3 if self.end_month % 3 == 0 else None

    @property
    def key(self) -> str:
        if self.quarter is not None:
            return f"{self.year}Q{self.quarter}"
        return f"{self.year}M{self.end_month:02d}"

    @property
    def start_date(self) -> date:
        start_month = self.end_month - 2 if self.quarter is not None else self.end_month
        return date(self.year, start_month, 1)

    @property
    def end_date(self) -> date:
        return date(self.year, self.end_month, calendar.monthrange(self.year, self.end_month)[1])

    @property
    def year_elapsed_share(self) -> float:
        """The share of the year elapsed at the period's end (序时进度)."""
        return round(self.end_month / 12, 4)

    @classmethod
    def from_key(cls, key: str) -> "Period":
        match = re.fullmatch(r"(\d{4})(?:Q([1-4])|M(\d{2}))", key)
        if not match:
            raise ValueError(f"{key!r} is not a period key such as 2021Q1 or 2021M11")
        year, quarter, month = match.groups()
        return cls(int(year), int(quarter) * 3 if quarter else int(month))


def end_month_from_text(text: str) -> int | None:
    """The last month a title's period wording covers (第一季度 → 3, 上半年 → 6, 1-11月份 → 11)."""
    for pattern, month in _PERIOD_WORDS:
        match = pattern.search(text)
        if match:
            return month or _CN_DIGITS[match.group(1)] * 3
    match = _MONTH_RANGE.search(text)
    if match and 1 <= int(match.group(2)) <= 12:
        return int(match.group(2))
    return None


def period_from_title(title: str) -> Period | None:
    """The period a report title names, or None if it names no year or no period."""
    year = _YEAR.search(title)
    month = end_month_from_text(title)
    if year and month:
        return Period(int(year.group(1)), month)
    return None


def period_from_filename(stem: str) -> Period | None:
    """The period a file name such as ``heze-2021-Q1`` names, or None."""
    year = _FILENAME_YEAR.search(stem)
    if not year:
        return None
    quarter = _FILENAME_QUARTER.search(stem)
    if quarter:
        return Period(int(year.group(1)), int(quarter.group(1)) * 3)
    month = _FILENAME_MONTH.search(stem)
    if month and 1 <= int(month.group(1)) <= 12:
        return Period(int(year.group(1)), int(month.group(1)))
    month_word = end_month_from_text(stem)
    return Period(int(year.group(1)), month_word) if month_word else None


def year_out_of_range(period: Period) -> str | None:
    """Why a period's year cannot be loaded (outside FIRST_YEAR…LAST_YEAR), or None."""
    if FIRST_YEAR <= period.year <= LAST_YEAR:
        return None
    return (
        f"the report's period {period.key} is outside the years duban accepts ({FIRST_YEAR}–{LAST_YEAR}); "
        "check the year in the title or the file name"
    )


def publisher_from_title(title: str) -> str | None:
    """The publishing body named before the year in a title (菏泽市人民政府2021年… → 菏泽市人民政府)."""
    match = re.match(r"\s*(.+?)\s*(?:19|20)\d{2}\s*年", title)
    if not match:
        return None
    publisher = match.group(1).strip(" #:：")
    return publisher or None
