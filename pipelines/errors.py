"""Named errors. Each says what went wrong with which file and what to do next."""

from __future__ import annotations

from pathlib import Path


class DubanError(Exception):
    """Base class for every error duban reports to its users."""


class ConfigurationError(DubanError):
    """A file under schemas/ (or a setting) contradicts itself; nothing is built until it is fixed."""


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

    def __init__(self, path: Path | str, pid: str, program: str):
        self.path, self.pid, self.program = str(path), pid, program
        super().__init__(
            f"{self.path} is open for writing in another program (PID {pid}, {program}); "
            f"close it there (or stop PID {pid}) and try again"
        )


def _reason(error: BaseException) -> str:
    """An OS or database error's reason on one line, without the file name it repeats."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class WarehouseUnreadable(DubanError):
    """The published warehouse file exists but is not a DuckDB database duban can read."""

    def __init__(self, path: Path | str, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(
            f"{self.path} is not a readable duban warehouse ({reason}); move it aside and run "
            "`duban build --all` to rebuild it from the raw reports"
        )


class WarehouseFolderUnusable(DubanError):
    """duban cannot create or write files in the warehouse's folder."""

    def __init__(self, folder: Path | str, error: BaseException):
        self.folder = str(folder)
        super().__init__(
            f"cannot write in the warehouse folder {self.folder} ({_reason(error)}); "
            "make it writable or choose another place with --warehouse FILE"
        )


class DagsterHomeUnusable(DubanError):
    """DAGSTER_HOME is not a folder where Dagster can keep its run history."""

    def __init__(self, home: Path | str, error: BaseException):
        self.home = str(home)
        super().__init__(
            f"DAGSTER_HOME {self.home} cannot hold Dagster's run history ({_reason(error)}); "
            "point DAGSTER_HOME at a writable folder, or unset it to use .dagster/ here"
        )


class DagsterStorageUnusable(DubanError):
    """The PostgreSQL database named by DUBAN_DAGSTER_STORAGE cannot hold Dagster's run history."""

    def __init__(self, error: BaseException, secrets: list[str]):
        reason = _reason(error)
        for secret in secrets:
            reason = reason.replace(secret, "***")
        super().__init__(
            f"Dagster's storage in PostgreSQL (DUBAN_DAGSTER_STORAGE) cannot be used ({reason}); check the URL, "
            "its password and that the server accepts connections, or unset DUBAN_DAGSTER_STORAGE to use SQLite"
        )


class WarehouseModified(DubanError):
    """Both the published warehouse and the working database were changed outside duban since the last build."""

    def __init__(self, path: Path | str, kept: Path | str):
        self.path, self.kept = str(path), str(kept)
        super().__init__(
            f"{self.path} and the working database beside it were both changed outside duban since the last build; "
            f"a copy of the published file is kept as {kept}; rebuild from the raw reports with "
            f"`duban build --all --warehouse NEW_FILE` (or delete both files and run `duban build`)"
        )
