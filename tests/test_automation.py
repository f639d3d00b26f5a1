"""The raw-directory sensor and the schedules, evaluated against a real Dagster instance."""

import os
import time
from pathlib import Path

import dagster as dg

from assets.automation import _split_cursor, daily_catch_up, quarterly_review, raw_directory_sensor
from assets.partitions import period_partitions
from assets.resources import RawDirectory, Warehouse
from pipelines.manifest import decode_states
from tests.conftest import SEED, run_build
from tests.report_writers import sample_records, write_text


def instance_in(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    return dg.instance_for_test(temp_dir=str(folder))


def tick(instance: dg.DagsterInstance, raw: Path, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"raw_directory": RawDirectory(path=str(raw))}
    )
    result = raw_directory_sensor(context)
    for request in result.dynamic_partitions_requests:  # as the sensor daemon does
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def states_of(cursor: str):
    """The file states in a sensor cursor (after its generation prefix)."""
    return decode_states(_split_cursor(cursor)[1])


def test_sensor_requests_new_and_reissued_files_and_reports_removals(raw_dir: Path, tmp_path: Path) -> None:
    with instance_in(tmp_path / "home") as instance:
        first = tick(instance, raw_dir, None)
        assert [(r.partition_key, r.run_config) for r in first.run_requests] == [
            ("2021Q1", {"ops": {"raw_reports": {"config": {"files": ["heze-2021-Q1.txt"]}}}})
        ]
        assert first.dynamic_partitions_requests[0].partition_keys == ["2021Q1"]
        assert set(states_of(first.cursor)) == {"heze-2021-Q1.txt"}

        quiet = tick(instance, raw_dir, first.cursor)
        assert quiet.run_requests == [] and quiet.skip_reason

        seed = raw_dir / SEED.name
        os.utime(seed, ns=(time.time_ns(), time.time_ns()))  # touched, same bytes: nothing to do
        touched = tick(instance, raw_dir, quiet.cursor)
        assert touched.run_requests == []

        seed.write_text(seed.read_text(encoding="utf-8").replace("实施城市增绿工程", "实施城市增绿工程（修订）"),
                        encoding="utf-8")
        reissued = tick(instance, raw_dir, touched.cursor)
        assert [r.partition_key for r in reissued.run_requests] == ["2021Q1"]
        assert reissued.run_requests[0].run_key != first.run_requests[0].run_key  # keyed on content
        assert reissued.dynamic_partitions_requests == []  # 2021Q1 was registered by the first tick's request

        write_text(raw_dir / "test-2021-Q2.txt", "测试市人民政府2021年责任目标上半年工作推进情况", sample_records(n=5, start=1))
        (raw_dir / "notes.txt").write_text("no period here", encoding="utf-8")
        second = tick(instance, raw_dir, reissued.cursor)
        assert [r.partition_key for r in second.run_requests] == ["2021Q2"]
        assert states_of(second.cursor)["notes.txt"].error.startswith("no reporting period found")

        (raw_dir / "test-2021-Q2.txt").unlink()
        removed = tick(instance, raw_dir, second.cursor)
        # the period whose file went is run with the files it has left (none), so its reports leave the warehouse
        assert [(r.partition_key, r.run_config) for r in removed.run_requests] == [
            ("2021Q2", {"ops": {"raw_reports": {"config": {"files": []}}}})
        ]
        (observation,) = removed.asset_events
        assert observation.asset_key == dg.AssetKey("raw_reports")
        assert observation.metadata["removed_files"].value == ["test-2021-Q2.txt"]

        seed.write_bytes(SEED.read_bytes())  # the original comes back: the same content as the first tick's
        reverted = tick(instance, raw_dir, removed.cursor)
        assert [r.partition_key for r in reverted.run_requests] == ["2021Q1"]
        assert reverted.run_requests[0].run_key != first.run_requests[0].run_key  # runs again all the same


def test_daily_catch_up_builds_only_what_is_missing(raw_dir: Path, tmp_path: Path) -> None:
    warehouse, home = tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    resources = {"raw_directory": RawDirectory(path=str(raw_dir)), "warehouse": Warehouse(path=str(warehouse))}
    with instance_in(tmp_path / "instance") as instance:
        context = dg.build_schedule_context(instance=instance, resources=resources)
        requests = daily_catch_up(context)
        assert [r.partition_key for r in requests] == ["2021Q1"]
        assert instance.get_dynamic_partitions(period_partitions.name) == ["2021Q1"]
    assert run_build(raw_dir, warehouse, home).returncode == 0
    with instance_in(tmp_path / "instance2") as instance:
        context = dg.build_schedule_context(instance=instance, resources=resources)
        assert isinstance(daily_catch_up(context), dg.SkipReason)
        write_text(raw_dir / "test-2021-Q3.txt", "测试市人民政府2021年责任目标前三季度工作推进情况", sample_records(n=5, start=1))
        requests = daily_catch_up(dg.build_schedule_context(instance=instance, resources=resources))
        assert [r.partition_key for r in requests] == ["2021Q3"]


def test_quarterly_review_is_one_run_over_every_period(tmp_path: Path) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        assert isinstance(quarterly_review(dg.build_schedule_context(instance=instance)), dg.SkipReason)
        instance.add_dynamic_partitions(period_partitions.name, ["2021Q1", "2021Q2", "2021Q3"])
        request = quarterly_review(dg.build_schedule_context(instance=instance))
        assert request.tags["dagster/asset_partition_range_start"] == "2021Q1"
        assert request.tags["dagster/asset_partition_range_end"] == "2021Q3"
