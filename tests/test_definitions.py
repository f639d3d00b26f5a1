"""The Dagster code location: it loads as `dagster dev` loads it, and a real materialization passes its checks."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb

from assets.definitions import BUILD_JOB, make_definitions
from assets.partitions import period_partitions
from assets.warehouse import STAR_TABLES, WAREHOUSE_POOL
from tests.conftest import REPO

EXPECTED_ASSETS = {"raw_reports", "tidy_records", "v_progress", "parquet_export", "briefing_reports", *STAR_TABLES}


def test_workspace_loads_like_dagster_dev(tmp_path: Path) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful for code location duban" in proc.stdout + proc.stderr


def test_definitions_hold_the_asset_graph_checks_and_job(tmp_path: Path) -> None:
    defs = make_definitions("raw", "warehouse/duban.duckdb")
    # resolve inside a live instance: Dagster keeps the last instance's state storage in a context
    # variable, which an instance closed by an earlier test can leave dangling
    with dg.instance_for_test(temp_dir=str(tmp_path)):
        graph = defs.resolve_asset_graph()
        job = defs.resolve_job_def(BUILD_JOB)
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == EXPECTED_ASSETS
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert checks == {
        ("fact_target_progress", "records_reconcile"),
        ("fact_target_progress", "unique_keys"),
        ("fact_target_progress", "foreign_keys"),
        ("dim_report", "all_reports_loaded"),
    }
    for key in graph.get_all_asset_keys():
        assert graph.get(key).partitions_def == period_partitions
    writers = {
        node.name: node.definition.pool
        for node in job.graph.node_dict.values()
    }
    assert writers["star_schema"] == WAREHOUSE_POOL and writers["v_progress"] == WAREHOUSE_POOL


def test_environment_chooses_paths(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DUBAN_RAW", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("DUBAN_WAREHOUSE", str(tmp_path / "w" / "x.duckdb"))
    resources = make_definitions().resources
    assert resources["raw_directory"].path == str(tmp_path / "elsewhere")
    assert resources["warehouse"].published == tmp_path / "w" / "x.duckdb"


def test_materialization_passes_every_check(raw_dir: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "duban.duckdb"
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions(period_partitions.name, ["2021Q1"])
        job = make_definitions(raw_dir, warehouse).resolve_job_def(BUILD_JOB)
        result = job.execute_in_process(instance=instance, partition_key="2021Q1")
        assert result.success
        evaluations = {
            (e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()
        }
        assert evaluations == {
            ("fact_target_progress", "records_reconcile"): True,
            ("fact_target_progress", "unique_keys"): True,
            ("fact_target_progress", "foreign_keys"): True,
            ("dim_report", "all_reports_loaded"): True,
        }
        materialized = {
            m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("star_schema")
        }
        assert materialized["fact_target_progress"]["period_row_counts"].value == {"2021Q1": 54}
        assert materialized["quarantine"]["row_count"].value == 4
        tidy = result.asset_materializations_for_node("tidy_records")[0].metadata
        assert (tidy["records_read"].value, tidy["accepted"].value, tidy["quarantined"].value) == (58, 54, 4)
        record = instance.get_latest_materialization_event(dg.AssetKey("v_progress"))
        assert record.asset_materialization.partition == "2021Q1"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM v_progress").fetchone() == (54,)


def test_failed_checks_are_reported(raw_dir: Path, tmp_path: Path) -> None:
    (raw_dir / "broken-2021-Q1.txt").write_text("# 某市2021年第一季度\n\n甲\t乙\n", encoding="utf-8")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions(period_partitions.name, ["2021Q1"])
        job = make_definitions(raw_dir, tmp_path / "duban.duckdb").resolve_job_def(BUILD_JOB)
        result = job.execute_in_process(instance=instance, partition_key="2021Q1")
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert evaluations["all_reports_loaded"].passed is False
        failures = evaluations["all_reports_loaded"].metadata["failures"].value
        assert list(failures) == ["broken-2021-Q1.txt"]
        assert failures["broken-2021-Q1.txt"].startswith("no header row found")
        # each file's outcome is in the check (stored once a run); dim_report's metadata counts them
        assert evaluations["all_reports_loaded"].metadata["reports"].value == {
            "broken-2021-Q1.txt": "failed", "heze-2021-Q1.txt": "loaded"
        }
        dim_report = next(m for m in result.asset_materializations_for_node("star_schema") if m.asset_key.path == ["dim_report"])
        assert dim_report.metadata["outcomes"].value == {"failed": 1, "loaded": 1}
        assert "reports" not in dim_report.metadata
        assert evaluations["records_reconcile"].passed is True


def test_briefing_metadata_names_a_bounded_number_of_pages(raw_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """Dagster stores an asset's metadata again for every partition of a run: the briefing's names and summarises at
    most PAGES_IN_METADATA pages and counts the rest."""
    import assets.briefing

    monkeypatch.setattr(assets.briefing, "PAGES_IN_METADATA", 0)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions(period_partitions.name, ["2021Q1"])
        job = make_definitions(raw_dir, tmp_path / "duban.duckdb").resolve_job_def(BUILD_JOB)
        result = job.execute_in_process(instance=instance, partition_key="2021Q1")
        metadata = result.asset_materializations_for_node("briefing_reports")[0].metadata
    assert metadata["pages_written"].value == 1
    assert metadata["pages"].value == {}
    assert metadata["summary"].value.endswith(f"… and 1 more page(s) under {tmp_path / 'reports'}")
    assert (tmp_path / "reports").is_dir()
