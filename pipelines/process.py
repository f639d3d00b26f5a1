"""Take one raw report through reshaping, normalising and validation to accepted and quarantined rows."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

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


def process_report(report: RawReport) -> ProcessedReport:
    """Reshape, normalise and validate one report (grain of the result: one row per record read)."""
    reshaped = reshape_grid(report.grid, report.path)
    tidy = normalise_records(reshaped.records, report.period.year)
    accepted, invalid = validate_tidy(tidy)
    quarantine = pl.concat([reshaped.quarantine, invalid]).sort("source_line")
    processed = ProcessedReport(report, accepted, quarantine, reshaped.skipped_lines)
    if processed.records_read != reshaped.records_read:
        raise AssertionError(
            f"{report.source_file}: {reshaped.records_read} records read but "
            f"{accepted.height} accepted + {quarantine.height} quarantined"
        )
    return processed
