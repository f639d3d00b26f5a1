"""Assets that load staged records into the star schema (a DuckDB file or a DuckLake) and make it visible to analysts."""

from dataclasses import dataclass, field

import dagster as dg
import polars as pl

from assets.ingest import SINGLE_RUN, tidy_records
from assets.partitions import period_partitions
from assets.resources import Warehouse
from pipelines import checks
from pipelines.contracts import star_tables
from pipelines.period_load import PeriodLoad, load_periods
from pipelines.progress import stage
from pipelines.sql_lists import json_list
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


@dataclass
class _Loaded:
    """What one load did and what the checks found, gathered inside the load's transaction."""

    outcomes: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    period_facts: dict = field(default_factory=dict)
    reconciliation: list = field(default_factory=list)
    duplicates: dict = field(default_factory=dict)
    orphans: dict = field(default_factory=dict)


def outcome_counts(outcomes: dict[str, str], failures: dict[str, str]) -> dict[str, int]:
    """How many of the run's files each load outcome has ('loaded', 'unchanged', … and 'failed'); one entry per outcome."""
    counts: dict[str, int] = {}
    for outcome in [*outcomes.values(), *["failed"] * len(failures)]:
        counts[outcome] = counts.get(outcome, 0) + 1
    return dict(sorted(counts.items()))


def _logged(context: dg.AssetExecutionContext, period_key: str, result: PeriodLoad) -> tuple[dict, dict]:
    """Log what loading one period did; returns its (outcomes, failures) by file."""
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
    """Bring each of the run's periods in line with its files in the star schema and make it visible as a whole.

    On a DuckDB file the load runs in the working copy under the warehouse's build lock (so runs of the
    sensor, schedules or `dagster dev` and `duban build` never write at the same time), then the file is
    published. On a DuckLake the load is one transaction, committed as one snapshot named after the run;
    a commit that conflicts with another writer's is rolled back and run again.
    """
    periods = context.partition_keys
    staged = {period_key: warehouse.staging.read_period(period_key) for period_key in periods}
    target = warehouse.target
    message = {"run_id": context.run_id, "periods": list(periods)}
    if target.is_lake:  # the snapshot names the reports it holds
        message["reports"] = sorted({
            warehouse.staging.read_raw(key, with_grid=False).source_file for keys in staged.values() for key in keys
        })

    def load(con) -> _Loaded:
        done = _Loaded()
        with stage("load", sum(map(len, staged.values())), "reports", log=context.log.info) as progress:
            read = lambda p: warehouse.staging.read_processed(staged[p])
            sizes = {p: len(keys) for p, keys in staged.items()}
            for period_key, result in load_periods(con, list(periods), read, sizes, target.scoped()):
                loaded, failed = _logged(context, period_key, result)
                done.outcomes.update(loaded)
                done.failures.update(failed)
                progress.advance(len(staged[period_key]))
            done.counts = {table: con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in STAR_TABLES}
            done.period_facts = dict(
                con.execute(
                    """SELECT period_key, count(*) FROM fact_target_progress
                       WHERE period_key IN (SELECT unnest(?::JSON::VARCHAR[])) GROUP BY 1""",
                    [json_list(periods)],
                ).fetchall()
            )
            with timed("checks"):
                done.reconciliation = [row for period in periods for row in checks.reconciliation(con, period)]
                done.duplicates = checks.duplicate_keys(con)
                done.orphans = checks.orphan_references(con)
        return done

    done = target.write(load, context.log.warning, message, lambda: stage("publish", None, "MB", log=context.log.info))
    outcomes, failures = done.outcomes, done.failures
    counts, period_facts = done.counts, done.period_facts
    reconciliation, duplicates, orphans = done.reconciliation, done.duplicates, done.orphans
    for table in STAR_TABLES:
        metadata = {"row_count": dg.MetadataValue.int(counts[table])}
        if table == "fact_target_progress":
            metadata["period_row_counts"] = dg.MetadataValue.json({p: period_facts.get(p, 0) for p in periods})
        if table == "dim_report":  # per file in the all_reports_loaded check, stored once a run, not once a partition
            metadata["outcomes"] = dg.MetadataValue.json(outcome_counts(outcomes, failures))
            metadata["lake_commit_retries"] = dg.MetadataValue.int(getattr(target, "conflicts", 0))
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
        metadata={
            "failures": dg.MetadataValue.json(failures),
            "reports": dg.MetadataValue.json({**outcomes, **{f: "failed" for f in failures}}),
        },
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
    target = warehouse.target
    with target.read() as con:
        rows = dict(
            con.execute(
                """SELECT period_key, count(*) FROM v_progress
                   WHERE period_key IN (SELECT unnest(?::JSON::VARCHAR[])) GROUP BY 1""",
                [json_list(periods)],
            ).fetchall()
        )
        preview = con.execute(
            """SELECT period_key, publisher, target_no, leader_name, on_schedule, lead_department FROM v_progress
               WHERE period_key IN (SELECT unnest(?::JSON::VARCHAR[])) ORDER BY period_key, publisher, target_no LIMIT 10""",
            [json_list(periods)],
        ).pl()
    with pl.Config(tbl_formatting="MARKDOWN", tbl_hide_column_data_types=True, tbl_hide_dataframe_shape=True):
        table = str(preview)
    return dg.MaterializeResult(
        metadata={
            "period_row_counts": dg.MetadataValue.json({p: rows.get(p, 0) for p in periods}),
            "published": dg.MetadataValue.path(str(target)),
            "preview": dg.MetadataValue.md(table),
        }
    )
