"""Assets that read a period's raw reports and turn them into tidy, validated records in staging."""

from collections import defaultdict
from typing import Optional

import dagster as dg

from assets.partitions import period_partitions
from assets.resources import RawDirectory, Warehouse
from pipelines.faults import pause_point
from pipelines.parallel import map_chunks
from pipelines.reports import discover_report_files
from pipelines.staging import process_staged, stage_files
from pipelines.version import pipeline_version

SINGLE_RUN = dg.BackfillPolicy.single_run()


class RawReportsConfig(dg.Config):
    """Which files to read: the complete list of the run's periods' files; None means every file under the raw directory."""

    files: Optional[list[str]] = None


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
    staging = warehouse.staging
    staged: dict[str, list[str]] = defaultdict(list)
    lines = 0
    unreadable: list[str] = []
    tasks = [(str(root), p.relative_to(root).as_posix(), str(staging.root), periods) for p in paths]
    for period, key, read, error in map_chunks(stage_files, tasks):
        if error:
            unreadable.append(error)
        elif key:
            staged[period].append(key)
            lines += read
            pause_point("read")
    for period in periods:
        staging.write_period(period, staged.get(period, []))
    for message in unreadable:
        context.log.warning(f"skipped unreadable file: {message}")
    return dg.MaterializeResult(
        metadata={
            "files": sum(len(keys) for keys in staged.values()),
            "lines": lines,
            "files_per_period": dg.MetadataValue.json({p: len(staged.get(p, [])) for p in sorted(periods)}),
            "unreadable_files": len(unreadable),
        }
    )


@dg.asset(
    deps=[raw_reports],
    partitions_def=period_partitions,
    backfill_policy=SINGLE_RUN,
    code_version=pipeline_version(),
    group_name="staging",
    kinds={"polars", "pandera"},
)
def tidy_records(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Each staged report reshaped, normalised and validated into accepted and quarantined rows; one set per report."""
    staging = warehouse.staging
    totals = {"reports": 0, "failed_reports": 0, "records_read": 0, "accepted": 0, "quarantined": 0, "reused": 0}
    keys = [key for period in context.partition_keys for key in staging.read_period(period)]
    fresh = [key for key in keys if not staging.has_processed(key)]
    # chunks of up to 64 reports, each validated together, spread over worker processes when there are many
    map_chunks(process_staged, [(str(staging.root), key) for key in fresh], chunk_size=64)
    totals["reused"] = len(keys) - len(fresh)
    for key in keys:
        summary = staging.processed_summary(key)  # counts only: the rows stay on disk
        if summary["failed"]:
            totals["failed_reports"] += 1
            context.log.error(f"report failed: {staging.read_raw(key, with_grid=False).source_file}: {summary['error']}")
        else:
            totals["reports"] += 1
            totals["records_read"] += summary["accepted"] + summary["quarantined"]
            totals["accepted"] += summary["accepted"]
            totals["quarantined"] += summary["quarantined"]
    return dg.MaterializeResult(metadata=totals)
