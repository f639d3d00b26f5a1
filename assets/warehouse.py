"""Assets that load staged records into the DuckDB star schema and publish it for analysts."""

import dagster as dg
import duckdb
import polars as pl

from assets.ingest import SINGLE_RUN, tidy_records
from assets.partitions import period_partitions
from assets.resources import Warehouse
from pipelines import checks
from pipelines.contracts import star_tables
from pipelines.period_load import load_period
from pipelines.progress import stage
from pipelines.timings import timed
from pipelines.version import pipeline_version

WAREHOUSE_POOL = "duban_warehouse"
STAR_TABLES = star_tables()  # in load order, from schemas/tables/*.toml
FACT = dg.AssetKey("fact_target_progress")

_specs = [
    dg.AssetSpec(
        name,
        deps=[tidy_records] if name != "fact_target_progress" else [tidy_records, *STAR_TABLES[: STAR_TABLES.index(name)]],
        group_name="warehouse",
        kinds={"duckdb"},
        partitions_def=period_partitions,
        code_version=pipeline_version(),
    )
    for name in STAR_TABLES
]
_checks = [
    dg.AssetCheckSpec("records_reconcile", asset=FACT, description="Per report: records read = facts + quarantined."),
    dg.AssetCheckSpec("unique_keys", asset=FACT, description="Every table's key is unique."),
    dg.AssetCheckSpec("foreign_keys", asset=FACT, description="Every reference has its dimension row."),
    dg.AssetCheckSpec("all_reports_loaded", asset="dim_report", description="No report of the period failed."),
]


def _load_period(context: dg.AssetExecutionContext, con, warehouse: Warehouse, period_key: str, keys: list[str]) -> tuple[dict, dict]:
    """Bring one period in line with its staged files (keys); returns (outcomes, failures) by file."""
    staging = warehouse.staging
    result = load_period(con, period_key, [staging.read_processed(key) for key in keys])
    counts = {s: sum(v == s for v in result.outcomes.values()) for s in ("loaded", "superseded", "unchanged")}
    context.log.info(
        f"{period_key}: {counts['loaded']} report(s) loaded, {counts['superseded']} superseded, "
        f"{counts['unchanged']} unchanged, {len(result.failures)} failed, {len(result.removed)} removed"
    )
    return result.outcomes, result.failures


@dg.multi_asset(
    specs=_specs,
    check_specs=_checks,
    partitions_def=period_partitions,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
)
def star_schema(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Bring each of the run's periods in line with its files in the working star schema, then publish it.

    Loading and publishing happen under the warehouse's build lock, so runs of the sensor, schedules
    or `dagster dev` and `duban build` never write the warehouse at the same time.
    """
    periods = context.partition_keys
    outcomes: dict[str, str] = {}
    failures: dict[str, str] = {}
    staged = {period_key: warehouse.staging.read_period(period_key) for period_key in periods}
    with warehouse.writing(context.log.info):
        with warehouse.connect_working() as con, stage(
            "load", sum(map(len, staged.values())), "reports", log=context.log.info
        ) as progress:
            for period_key in periods:
                loaded, failed = _load_period(context, con, warehouse, period_key, staged[period_key])
                outcomes.update(loaded)
                failures.update(failed)
                progress.advance(len(staged[period_key]))
            counts = {table: con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in STAR_TABLES}
            period_facts = dict(
                con.execute(
                    """SELECT period_key, count(*) FROM fact_target_progress
                       WHERE period_key IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1""",
                    [periods],
                ).fetchall()
            )
            with timed("checks"):
                reconciliation = [row for period in periods for row in checks.reconciliation(con, period)]
                duplicates = checks.duplicate_keys(con)
                orphans = checks.orphan_references(con)
        megabytes = lambda size: -(-size >> 20)  # noqa: E731 (rounded up)
        with stage("publish", None, "MB", log=context.log.info) as progress:
            warehouse.publish(progress=lambda done, total: progress.update(megabytes(done), megabytes(total)))
    for table in STAR_TABLES:
        metadata = {"row_count": dg.MetadataValue.int(counts[table])}
        if table == "fact_target_progress":
            metadata["period_row_counts"] = dg.MetadataValue.json({p: period_facts.get(p, 0) for p in periods})
        if table == "dim_report":
            metadata["reports"] = dg.MetadataValue.json({**outcomes, **{f: "failed" for f in failures}})
        yield dg.MaterializeResult(asset_key=table, metadata=metadata)
    yield dg.AssetCheckResult(
        asset_key=FACT,
        check_name="records_reconcile",
        passed=all(r["reconciles"] for r in reconciliation),
        metadata={"reports": dg.MetadataValue.json(reconciliation)},
    )
    yield dg.AssetCheckResult(
        asset_key=FACT,
        check_name="unique_keys",
        passed=not any(duplicates.values()),
        metadata={"duplicate_keys": dg.MetadataValue.json(duplicates)},
    )
    yield dg.AssetCheckResult(
        asset_key=FACT,
        check_name="foreign_keys",
        passed=not any(orphans.values()),
        metadata={"orphans": dg.MetadataValue.json(orphans)},
    )
    yield dg.AssetCheckResult(
        asset_key="dim_report",
        check_name="all_reports_loaded",
        passed=not failures,
        metadata={"failures": dg.MetadataValue.json(failures)},
    )


@dg.asset(
    deps=STAR_TABLES,
    partitions_def=period_partitions,
    backfill_policy=SINGLE_RUN,
    code_version=pipeline_version(),
    group_name="marts",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
)
def v_progress(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """The flat analyst view (one row per target and period), as the published warehouse holds it."""
    periods = context.partition_keys
    published = warehouse.published
    with duckdb.connect(str(published), read_only=True) as con:
        rows = dict(
            con.execute(
                """SELECT period_key, count(*) FROM v_progress
                   WHERE period_key IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1""",
                [periods],
            ).fetchall()
        )
        preview = con.execute(
            """SELECT period_key, publisher, target_no, leader_name, on_schedule, lead_department FROM v_progress
               WHERE period_key IN (SELECT unnest(?::VARCHAR[])) ORDER BY period_key, publisher, target_no LIMIT 10""",
            [periods],
        ).pl()
    with pl.Config(tbl_formatting="MARKDOWN", tbl_hide_column_data_types=True, tbl_hide_dataframe_shape=True):
        table = str(preview)
    return dg.MaterializeResult(
        metadata={
            "period_row_counts": dg.MetadataValue.json({p: rows.get(p, 0) for p in periods}),
            "published": dg.MetadataValue.path(str(published)),
            "preview": dg.MetadataValue.md(table),
        }
    )
