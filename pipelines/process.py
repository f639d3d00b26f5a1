"""Take one raw report through reshaping, normalising and validation to accepted and quarantined rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from pipelines.errors import DubanError
from pipelines.normalise import normalise_records
from pipelines.reports import RawReport
from pipelines.reshape import reshape_grid
from pipelines.validate import validate_tidy


@dataclass
class ProcessedReport:
    """A report's accepted tidy records and its quarantine rows; every record read is in one of them."""

    report: RawReport
    accepted: pl.DataFrame
    quarantine: pl.DataFrame
    skipped_lines: int

    @property
    def records_read(self) -> int:
        return self.accepted.height + self.quarantine.height


@dataclass
class FailedReport:
    """A report that could not be processed, with the reason."""

    source_file: str
    sha256: str
    period_key: str | None
    error: str
    publisher: str | None = None
    exception: DubanError | None = field(default=None, repr=False, compare=False)
    modified_at: datetime | None = None


def process_reports(reports: list[RawReport]) -> list[ProcessedReport | FailedReport]:
    """Reshape and normalise each report, then validate all of them in one pandera pass (grain: one item per report)."""
    tidied: list[tuple[int, RawReport, pl.DataFrame, pl.DataFrame, int]] = []
    results: list[ProcessedReport | FailedReport | None] = [None] * len(reports)
    for idx, report in enumerate(reports):
        try:
            reshaped = reshape_grid(report.grid, report.path)
        except DubanError as error:
            results[idx] = FailedReport(
                report.source_file, report.sha256, report.period.key, error.reason, report.publisher, error,
                modified_at=report.modified_at,
            )
            continue
        tidy = normalise_records(reshaped.records, report.period.year).with_columns(report_idx=pl.lit(idx, pl.Int64))
        tidied.append((idx, report, tidy, reshaped.quarantine, reshaped.skipped_lines))
    if tidied:
        accepted, invalid = validate_tidy(pl.concat([t for _, _, t, _, _ in tidied]))
        accepted_by = accepted.partition_by("report_idx", as_dict=True, include_key=False)
        invalid_by = invalid.partition_by("report_idx", as_dict=True, include_key=False)
        for idx, report, tidy, quarantine, skipped in tidied:
            kept = accepted_by.get((idx,), accepted.clear().drop("report_idx"))
            rejected = invalid_by.get((idx,), invalid.clear().drop("report_idx"))
            results[idx] = ProcessedReport(
                report, kept, pl.concat([quarantine, rejected]).sort("source_line"), skipped
            )
            if results[idx].records_read != tidy.height + quarantine.height:
                raise AssertionError(f"{report.source_file}: records lost between reshaping and validation")
    return results  # type: ignore[return-value]


def process_report(report: RawReport) -> ProcessedReport:
    """Reshape, normalise and validate one report (grain of the result: one row per record read); raises if refused."""
    result = process_reports([report])[0]
    if isinstance(result, FailedReport):
        raise result.exception or DubanError(result.error)
    return result
