"""The one composition point of duban's Dagster code location."""

from __future__ import annotations

import os

import dagster as dg

from assets.automation import daily_catch_up, quarterly_review, raw_directory_sensor
from assets.briefing import briefing_reports
from assets.console_logger import console_logger
from assets.exports import parquet_export
from assets.ingest import raw_reports, tidy_records
from assets.jobs import BUILD_JOB, build_job
from assets.resources import RawDirectory, Warehouse, configured_paths
from pipelines.settings import configured_data_path
from assets.warehouse import star_schema, v_progress



def make_definitions(
    raw_dir: str | os.PathLike | None = None, warehouse: str | os.PathLike | None = None, data_path: str | None = None
) -> dg.Definitions:
    """duban's definitions for a raw directory and warehouse (defaults: DUBAN_RAW, DUBAN_WAREHOUSE, DUBAN_DATA_PATH)."""
    default_raw, default_warehouse = configured_paths()
    return dg.Definitions(
        assets=[raw_reports, tidy_records, star_schema, v_progress, parquet_export, briefing_reports],
        jobs=[build_job],
        sensors=[raw_directory_sensor],
        schedules=[daily_catch_up, quarterly_review],
        resources={
            "raw_directory": RawDirectory(path=str(raw_dir or default_raw)),
            "warehouse": Warehouse(path=str(warehouse or default_warehouse), data_path=data_path or configured_data_path(),
                                   raw_path=str(raw_dir or default_raw)),
        },
        executor=dg.in_process_executor,
        loggers={"console": console_logger},
    )


defs = make_definitions()
