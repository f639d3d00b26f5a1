"""Asset that exports the published warehouse to Parquet for BI tools without a DuckDB driver."""

import dagster as dg

from assets.ingest import SINGLE_RUN
from assets.partitions import period_partitions
from assets.resources import Warehouse
from assets.warehouse import WAREHOUSE_POOL, v_progress
from pipelines.export import export_parquet
from pipelines.progress import stage
from pipelines.version import pipeline_version


@dg.asset(
    deps=[v_progress],
    partitions_def=period_partitions,
    backfill_policy=SINGLE_RUN,
    code_version=pipeline_version(),
    group_name="exports",
    kinds={"parquet"},
    pool=WAREHOUSE_POOL,  # one export at a time, never beside a build that is writing
)
def parquet_export(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Every table and view of the published warehouse as Parquet, period-keyed ones partitioned by period;
    only the run's periods are rewritten."""
    with stage("export", None, "tables and views", log=context.log.info) as progress:
        counts = export_parquet(warehouse.target, context.partition_keys, progress=progress.update)
    return dg.MaterializeResult(
        metadata={
            "directory": dg.MetadataValue.path(str(warehouse.target.output_dir / "parquet")),
            "rows": dg.MetadataValue.json(counts),
        }
    )
