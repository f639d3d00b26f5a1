"""Assets that read a period's raw reports and turn them into tidy, validated records in staging."""

from collections import defaultdict
from typing import Optional

import dagster as dg

from assets.partitions import period_partitions
from assets.resources import RawDirectory, Warehouse
from pipelines.faults import hold_point, pause_point
from pipelines.parallel import map_chunks
from pipelines.progress import stage
from pipelines.raw_files import storable_name
from pipelines.reports import discover_report_files
from pipelines.staging import GONE, process_staged, stage_files
from pipelines.version import pipeline_version
from pipelines.printable import printable

SINGLE_RUN = dg.BackfillPolicy.single_run()
# raw_reports metadata: {file: reason} for files the caller chose that changed or vanished before the read
CHANGED_FILES = "changed_files"


class RawReportsConfig(dg.Config):
    """Which files to read: the complete list of the run's periods' files; None means every file under the raw directory."""

    files: Optional[list[str]] = None
    # the period the caller's scan found in each file: a file that reports another one now is named
    periods_of: dict[str, str] = {}


@dg.asset(
    partitions_def=period_partitions,
    backfill_policy=SINGLE_RUN,
    code_version=pipeline_version(),
    group_name="ingest",
    kinds={"python", "polars"},
)
def raw_reports(
    context: dg.AssetExecutionContext, config: RawReportsConfig, raw_directory: RawDirectory, warehouse: Warehouse
) -> dg.MaterializeResult:
    """The raw reports of the run's periods read into grids of cells and staged; one entry per file."""
    root = raw_directory.root
    periods = sorted(context.partition_keys)
    paths = [root / f for f in config.files] if config.files is not None else discover_report_files(root)
    hold_point("scanned")  # tests change files here, between the scan that chose them and this read
    staging = warehouse.staging
    staged: dict[str, list[str]] = defaultdict(list)
    lines = 0
    unreadable: list[str] = []
    names = [p.relative_to(root).as_posix() for p in paths]
    tasks = [(str(root), name, str(staging.root), periods) for name in names]
    changed: dict[str, str] = {}  # files chosen by the caller's scan that are gone or changed now
    with stage("read", len(tasks), "reports", log=context.log.info) as progress:
        results = map_chunks(stage_files, tasks, progress=progress.update)
    for name, (period, key, read, error) in zip(names, results):
        expected = [config.periods_of[name]] if name in config.periods_of else periods
        if config.files and (problem := changed_since_scan(period, error, expected)):
            changed[storable_name(name)] = problem
        elif error:
            unreadable.append(f"{storable_name(name)}: {error}")
        elif key:
            staged[period].append(key)
            lines += read
            pause_point("read")
    for period in periods:
        staging.write_period(period, staged.get(period, []))
    for message in unreadable:
        context.log.warning(f"skipped unreadable file: {printable(message)}")
    for name, problem in changed.items():
        context.log.error(f"{printable(name)}: {printable(problem)}")
    return dg.MaterializeResult(
        metadata={
            "files": sum(len(keys) for keys in staged.values()),
            "lines": lines,
            "files_per_period": dg.MetadataValue.json({p: len(staged.get(p, [])) for p in sorted(periods)}),
            "unreadable_files": len(unreadable),
            CHANGED_FILES: dg.MetadataValue.json(changed),
        }
    )


def changed_since_scan(period: str, error: str | None, periods: list[str]) -> str | None:
    """Why a file the scan chose for this run cannot be staged now (gone, unreadable, not one of periods), or None."""
    again = "run duban build again"
    if error == GONE:
        return f"the file disappeared between scan and read; {again}"
    if error:
        return f"the file changed between scan and read and cannot be read now ({error}); {again}"
    if period not in periods:
        return f"the file changed period between scan and read (it now reports {period}); {again}"
    return None


@dg.asset(
    deps=[raw_reports],
    partitions_def=period_partitions,
    backfill_policy=SINGLE_RUN,
    code_version=pipeline_version(),
    group_name="tidy",
    kinds={"polars", "pandera"},
)
def tidy_records(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Each staged report reshaped, normalised and validated into accepted and quarantined rows; one set per report."""
    staging = warehouse.staging
    totals = {"reports": 0, "failed_reports": 0, "records_read": 0, "accepted": 0, "quarantined": 0, "reused": 0}
    keys = [key for period in context.partition_keys for key in staging.read_period(period)]
    fresh = [key for key in keys if not staging.has_processed(key)]
    # chunks of up to 64 reports, each validated together, spread over worker processes when there are many
    with stage("reshape and validate", len(fresh), "reports", log=context.log.info) as progress:
        map_chunks(process_staged, [(str(staging.root), key) for key in fresh], chunk_size=64, progress=progress.update)
    totals["reused"] = len(keys) - len(fresh)
    for key in keys:
        summary = staging.processed_summary(key)  # counts only: the rows stay on disk
        if summary["failed"]:
            totals["failed_reports"] += 1
            context.log.error(f"report failed: {printable(staging.read_raw(key, with_grid=False).source_file)}: {printable(summary['error'])}")
        else:
            totals["reports"] += 1
            totals["records_read"] += summary["accepted"] + summary["quarantined"]
            totals["accepted"] += summary["accepted"]
            totals["quarantined"] += summary["quarantined"]
    return dg.MaterializeResult(metadata=totals)


def changed_files(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """{file: reason} of the files a finished run found gone or changed since the caller's scan."""
    changed: dict[str, str] = {}
    for materialization in result.asset_materializations_for_node("raw_reports"):
        value = materialization.metadata.get(CHANGED_FILES)
        changed.update(value.value if value is not None else {})
    return dict(sorted(changed.items()))
