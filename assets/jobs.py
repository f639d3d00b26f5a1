"""The job that builds the warehouse for one or many periods."""

import dagster as dg

from assets.partitions import period_partitions

BUILD_JOB = "build_warehouse"

build_job = dg.define_asset_job(
    BUILD_JOB,
    selection=dg.AssetSelection.all(),
    partitions_def=period_partitions,
    description="Read, reshape, validate and load every report of the run's periods, publish, export Parquet.",
)
