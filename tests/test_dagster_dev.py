"""`dagster dev` from the repository root, driven the way a user and the UI drive it.

The webserver, daemon and code server run as real processes on a free loopback port. The sensor
picks up files dropped into the raw directory on its own; a backfill of every period is launched
through the GraphQL API and runs as one run.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO, SEED
from tests.report_writers import sample_records, write_text

ASSET_GRAPH = """{ assetNodes { assetKey { path } isPartitioned
  assetChecksOrError { ... on AssetChecks { checks { name } } } } }"""
LAUNCH_BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL_RUNS = """query($tag: String!) { runsOrError(filter: {tags: [{key: "dagster/backfill", value: $tag}]}) {
  ... on Runs { results { runId status tags { key value } } } } }"""
CHECK_RESULTS = """{ assetNodes { assetKey { path }
  assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } }"""
RUN_METADATA = """query($runId: ID!) { runOrError(runId: $runId) { ... on Run { status
  assetMaterializations { assetKey { path } partition metadataEntries { label } } } } }"""
SENSORS = """{ sensorsOrError(repositorySelector: {repositoryName: "__repository__", repositoryLocationName: "duban"}) {
  ... on Sensors { results { name sensorState { status } } } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class Dev:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.load(response)
        assert "errors" not in payload, payload
        return payload["data"]

    def up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=5):
                return True
        except OSError:
            return False


def stop_process_group(proc: subprocess.Popen) -> None:
    """Stop `dagster dev` (or `duban dev`) and its webserver, daemon and code server: SIGINT, then SIGKILL after 60 s."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def periods_in(warehouse: Path) -> list[str]:
    if not warehouse.exists():
        return []
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return [p for (p,) in con.execute("SELECT DISTINCT period_key FROM v_progress ORDER BY 1").fetchall()]
    except duckdb.Error:
        return []


@pytest.fixture
def dagster_dev(tmp_path: Path):
    raw, warehouse, home = tmp_path / "raw", tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    raw.mkdir()
    home.mkdir()
    shutil.copy2(REPO / "dagster.yaml", home / "dagster.yaml")
    shutil.copy2(SEED, raw / SEED.name)
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DUBAN_RAW": str(raw),
        "DUBAN_WAREHOUSE": str(warehouse),
        "DUBAN_SENSOR_INTERVAL": "2",
    }
    log = (tmp_path / "dagster-dev.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster")), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    dev = Dev(port)
    try:
        wait_until(dev.up, 180, "the Dagster webserver")
        yield dev, raw, warehouse
    finally:
        stop_process_group(proc)
        log.close()


def test_dagster_dev_serves_the_graph_runs_the_sensor_and_a_single_run_backfill(dagster_dev) -> None:
    dev, raw, warehouse = dagster_dev
    nodes = dev.graphql(ASSET_GRAPH)["assetNodes"]
    keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
    assert {"raw_reports", "tidy_records", "fact_target_progress", "v_progress", "parquet_export"} <= keys
    assert all(n["isPartitioned"] for n in nodes)
    checks = {c["name"] for n in nodes for c in (n["assetChecksOrError"].get("checks") or [])}
    assert checks == {"records_reconcile", "unique_keys", "foreign_keys", "all_reports_loaded"}
    sensors = dev.graphql(SENSORS)["sensorsOrError"]["results"]
    assert [(s["name"], s["sensorState"]["status"]) for s in sensors] == [("raw_directory_sensor", "RUNNING")]

    # the seed in raw/ reaches the warehouse without any action, and so does a quarter dropped in later
    wait_until(lambda: periods_in(warehouse) == ["2021Q1"], 240, "the sensor's run for 2021Q1")
    write_text(raw / "test-2021-Q2.txt", "测试市人民政府2021年责任目标上半年工作推进情况一览表", sample_records(n=12, start=1))
    wait_until(lambda: periods_in(warehouse) == ["2021Q1", "2021Q2"], 240, "the sensor's run for 2021Q2")

    # a backfill of every period, launched through the API, is one run that succeeds
    selection = [{"path": [key]} for key in sorted(keys)]
    launched = dev.graphql(
        LAUNCH_BACKFILL, {"params": {"partitionNames": ["2021Q1", "2021Q2"], "assetSelection": selection}}
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill = launched["backfillId"]

    def finished_runs():
        runs = dev.graphql(BACKFILL_RUNS, {"tag": backfill})["runsOrError"]["results"]
        return runs if runs and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs) else None

    runs = wait_until(finished_runs, 240, "the backfill run")
    assert [r["status"] for r in runs] == ["SUCCESS"]
    tags = {t["key"]: t["value"] for t in runs[0]["tags"]}
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
        "2021Q1",
        "2021Q2",
    )
    assert periods_in(warehouse) == ["2021Q1", "2021Q2"]

    # what the UI shows: the run's materializations with their metadata, and every check passing
    run = dev.graphql(RUN_METADATA, {"runId": runs[0]["runId"]})["runOrError"]
    labels = {
        "/".join(m["assetKey"]["path"]): {e["label"] for e in m["metadataEntries"]} for m in run["assetMaterializations"]
    }
    assert "row_count" in labels["fact_target_progress"] and "period_row_counts" in labels["v_progress"]
    assert {"records_read", "accepted", "quarantined"} <= labels["tidy_records"]
    statuses = {
        (("/".join(n["assetKey"]["path"])), c["name"]): c["executionForLatestMaterialization"]["status"]
        for n in dev.graphql(CHECK_RESULTS)["assetNodes"]
        for c in (n["assetChecksOrError"].get("checks") or [])
    }
    assert statuses == {
        ("fact_target_progress", "records_reconcile"): "SUCCEEDED",
        ("fact_target_progress", "unique_keys"): "SUCCEEDED",
        ("fact_target_progress", "foreign_keys"): "SUCCEEDED",
        ("dim_report", "all_reports_loaded"): "SUCCEEDED",
    }
