"""Take one raw report through reshaping, normalising and validation to accepted and quarantined rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from pipelines.errors import DubanError
from pipelines.normalise import normalise_records
from pipelines.reports import RawReport
from pipelines.reshape import reshape_grids
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
    """Reshape, normalise and validate several reports as one frame keyed by report (grain: one item per report)."""
    if not reports:
        return []
    batch = reshape_grids([r.grid for r in reports], [r.path for r in reports])
    years = pl.DataFrame(
        {"report": range(len(reports)), "plan_year": [r.period.year for r in reports]},
        schema={"report": pl.Int64, "plan_year": pl.Int32},
    )
    tidy = normalise_records(batch.records.join(years, on="report"), pl.col("plan_year"), keys=("report",))
    accepted, invalid = validate_tidy(tidy.rename({"report": "report_idx"}))
    quarantine = pl.concat([batch.quarantine.rename({"report": "report_idx"}), invalid]).sort(
        "report_idx", "source_line", maintain_order=True
    )
    accepted_by = accepted.partition_by("report_idx", as_dict=True, include_key=False)
    quarantine_by = quarantine.partition_by("report_idx", as_dict=True, include_key=False)
    no_accepted, no_quarantine = accepted.clear().drop("report_idx"), quarantine.clear().drop("report_idx")
    results: list[ProcessedReport | FailedReport] = []
    for idx, report in enumerate(reports):
        if idx in batch.refused:
            error = batch.refused[idx]
            results.append(
                FailedReport(
                    report.source_file, report.sha256, report.period.key, error.reason, report.publisher, error,
                    modified_at=report.modified_at,
                )
            )
            continue
        kept = accepted_by.get((idx,), no_accepted)  # the empty frames made once: a default is built even when unused
        rejected = quarantine_by.get((idx,), no_quarantine)
        results.append(ProcessedReport(report, kept, rejected, batch.skipped_lines.get(idx, 0)))
    read_by_report = batch.quarantine.group_by("report").len().join(
        tidy.group_by("report").len(), on="report", how="full", coalesce=True
    )
    for idx, from_reshape, from_tidy in read_by_report.fill_null(0).iter_rows():
        processed = results[idx]
        if isinstance(processed, ProcessedReport) and processed.records_read != from_reshape + from_tidy:
            raise AssertionError(f"{processed.report.source_file}: records lost between reshaping and validation")
    return results


def process_report(report: RawReport) -> ProcessedReport:
    """Reshape, normalise and validate one report (grain of the result: one row per record read); raises if refused."""
    result = process_reports([report])[0]
    if isinstance(result, FailedReport):
        raise result.exception or DubanError(result.error)
    return result
