"""Assets that read a period's raw reports and turn them into tidy, validated records."""


from dataclasses import dataclass

import dagster as dg

from assets.partitions import period_partitions
from assets.resources import RawDirectory
from pipelines.errors import DubanError
from pipelines.process import ProcessedReport, process_report
from pipelines.reports import RawReport, discover_report_files, read_report


@dataclass
class FailedReport:
    """A report of this period that could not be processed, with the reason."""

    source_file: str
    sha256: str
    period_key: str | None
    error: str


class RawReportsConfig(dg.Config):
    """Which files to read; empty means every file under the raw directory whose period is this partition."""

    files: list[str] = []


@dg.asset(partitions_def=period_partitions, group_name="ingest", kinds={"python", "polars"})
def raw_reports(
    context: dg.AssetExecutionContext, config: RawReportsConfig, raw_directory: RawDirectory
) -> list:
    """The raw reports of one period, read into grids of cells; one item per file."""
    root = raw_directory.root
    paths = [root / f for f in config.files] if config.files else discover_report_files(root)
    reports: list[RawReport] = []
    unreadable: list[str] = []
    for path in paths:
        try:
            report = read_report(path, root)
        except DubanError as error:
            unreadable.append(str(error))
            continue
        if report.period.key == context.partition_key:
            reports.append(report)
    for message in unreadable:
        context.log.warning(f"skipped unreadable file: {message}")
    context.add_output_metadata(
        {
            "files": len(reports),
            "lines": sum(r.grid.height for r in reports),
            "source_files": dg.MetadataValue.md("\n".join(f"- {r.source_file}" for r in reports) or "(none)"),
            "unreadable_files": len(unreadable),
        }
    )
    return reports


@dg.asset(partitions_def=period_partitions, group_name="staging", kinds={"polars", "pandera"})
def tidy_records(
    context: dg.AssetExecutionContext, raw_reports: list[RawReport]
) -> list:
    """Each report of the period reshaped, normalised and validated; one item per report."""
    results: list[ProcessedReport | FailedReport] = []
    for report in raw_reports:
        try:
            results.append(process_report(report))
        except DubanError as error:
            context.log.error(f"report failed: {error}")
            results.append(FailedReport(report.source_file, report.sha256, report.period.key, error.reason))
    processed = [r for r in results if isinstance(r, ProcessedReport)]
    context.add_output_metadata(
        {
            "reports": len(processed),
            "failed_reports": len(results) - len(processed),
            "records_read": sum(r.records_read for r in processed),
            "accepted": sum(r.accepted.height for r in processed),
            "quarantined": sum(r.quarantine.height for r in processed),
        }
    )
    return results

