"""Named errors. Each says what went wrong with which file and what to do next."""

from __future__ import annotations

from pathlib import Path


class DubanError(Exception):
    """Base class for every error duban reports to its users."""


class ReportRefused(DubanError):
    """A raw report cannot be loaded at all; the other reports still load."""

    def __init__(self, path: Path | str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class NoPeriodError(ReportRefused):
    """Neither the title nor the file name says which year and quarter a report covers."""


class BadFileName(ReportRefused):
    """The file's name cannot be stored (it is not valid UTF-8)."""


class UnreadableFile(ReportRefused):
    """The file cannot be opened or read (permissions, a broken link, not a regular file)."""


class TooLargeError(ReportRefused):
    """The file would expand beyond the size or cell limits (pipelines/limits.py) if read."""


class PeriodOutOfRange(ReportRefused):
    """The report's year lies outside the years the warehouse accepts."""


class UnknownHeaderError(ReportRefused):
    """No row of the report looks like the table's header."""


class NoRecordsError(ReportRefused):
    """The report has a header but not a single record under it."""


class UndecodableError(ReportRefused):
    """The file's bytes are not text in any encoding duban knows."""


class WarehouseLocked(DubanError):
    """Another process holds the warehouse file open for writing."""
