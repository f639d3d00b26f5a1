"""Sensor and schedules: new or re-issued reports reach the warehouse on their own."""

import hashlib
import os

import dagster as dg

from assets.partitions import period_partitions
from assets.resources import RawDirectory, Warehouse
from assets.jobs import build_job
from pipelines.manifest import decode_states, encode_states, files_by_period, scan_raw
from pipelines.plan import periods_to_build
from pipelines.printable import printable

# How often the sensor looks at the raw directory; tests shorten it.
SENSOR_INTERVAL = int(os.environ.get("DUBAN_SENSOR_INTERVAL", "30"))


def _run_config(files: list[str]) -> dict:
    return {"ops": {"raw_reports": {"config": {"files": files}}}}


def _run_key(period: str, generation: int, shas: list[str]) -> str:
    """Unique per period and sensor generation: a state seen before (a reverted file) still runs again."""
    return f"{period}:{generation}:{hashlib.sha256(''.join(sorted(shas)).encode()).hexdigest()[:16]}"


def _split_cursor(cursor: str | None) -> tuple[int, str | None]:
    """(generation, encoded file states) of the sensor's cursor; generation counts the ticks that requested runs."""
    if cursor and cursor.startswith("g") and ":" in cursor:
        generation, states = cursor[1:].split(":", 1)
        return int(generation), states
    return 0, cursor


@dg.sensor(job=build_job, minimum_interval_seconds=SENSOR_INTERVAL, default_status=dg.DefaultSensorStatus.RUNNING)
def raw_directory_sensor(context: dg.SensorEvaluationContext, raw_directory: RawDirectory) -> dg.SensorResult:
    """Request a run for every period with a new, changed or removed file (by content hash); report removed files."""
    generation, encoded = _split_cursor(context.cursor)
    previous = decode_states(encoded)
    states, changes = scan_raw(raw_directory.root, previous)
    periods = sorted(
        {states[name].period_key for name in changes.touched if states[name].period_key}
        | {previous[name].period_key for name in changes.changed + changes.removed if previous[name].period_key}
    )
    by_period = files_by_period(states)
    known = set(context.instance.get_dynamic_partitions(period_partitions.name))
    if periods:
        generation += 1
    requests = [
        dg.RunRequest(
            partition_key=period,
            run_key=_run_key(period, generation, [states[f].sha256 for f in by_period.get(period, [])]),
            run_config=_run_config(by_period.get(period, [])),
            tags={"duban/trigger": "raw_directory_sensor"},
        )
        for period in periods
    ]
    events = []
    for name in changes.touched:
        if states[name].error:
            context.log.warning(f"{printable(name)}: not loadable: {printable(states[name].error)}")
    if changes.removed:
        context.log.warning(
            f"removed from the raw directory (their reports leave the warehouse): {', '.join(changes.removed)}"
        )
        events.append(
            dg.AssetObservation(
                asset_key="raw_reports",
                metadata={
                    "removed_files": dg.MetadataValue.json(changes.removed),
                    "note": "The run for their periods removes their reports from the warehouse.",
                },
            )
        )
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[period_partitions.build_add_request(sorted(set(periods) - known))]
        if set(periods) - known
        else [],
        asset_events=events,
        cursor=f"g{generation}:{encode_states(states)}",
        skip_reason=None if requests or events else "no new, changed or removed files",
    )


@dg.schedule(job=build_job, cron_schedule="0 6 * * *", default_status=dg.DefaultScheduleStatus.STOPPED)
def daily_catch_up(context: dg.ScheduleEvaluationContext, raw_directory: RawDirectory, warehouse: Warehouse):
    """Every morning: build every period whose files are not all in the warehouse, or that was never built."""
    states, _ = scan_raw(raw_directory.root, {})
    stale = periods_to_build(states, warehouse.target)
    instance = context.instance
    known = set(instance.get_dynamic_partitions(period_partitions.name))
    new = sorted(set(stale) - known)
    if new:
        instance.add_dynamic_partitions(period_partitions.name, new)
    if not stale:
        return dg.SkipReason("the warehouse holds exactly the reports under the raw directory")
    return [
        dg.RunRequest(
            partition_key=period,
            run_key=None,
            run_config=_run_config(files),
            tags={"duban/trigger": "daily_catch_up"},
        )
        for period, files in stale.items()
    ]


@dg.schedule(
    job=build_job, cron_schedule="0 7 1 1,4,7,10 *", default_status=dg.DefaultScheduleStatus.STOPPED
)
def quarterly_review(context: dg.ScheduleEvaluationContext):
    """At each quarter's start: one run over every period, re-running the reconciliation checks, views and export."""
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    periods = context.instance.get_dynamic_partitions(period_partitions.name)
    if not periods:
        return dg.SkipReason("no periods yet")
    return dg.RunRequest(
        run_key=None,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: periods[0],
            ASSET_PARTITION_RANGE_END_TAG: periods[-1],
            "duban/trigger": "quarterly_review",
        },
    )
