"""`duban build` as a real process: the warehouse it writes, checked by SQL, and a second build."""

import shutil
from pathlib import Path

from assets.warehouse import STAR_TABLES
from tests.conftest import SEED, BuildRun, run_build

TABLES = STAR_TABLES


def test_summary_is_printed_per_report(seed_build: BuildRun) -> None:
    lines = seed_build.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("publisher"))
    assert lines[header].split() == ["publisher", "period", "read", "accepted", "quarantined", "status", "file"]
    assert lines[header + 2].split() == ["菏泽市人民政府", "2021Q1", "58", "54", "4", "loaded", "heze-2021-Q1.txt"]


def test_fact_counts_and_reconciliation(seed_build: BuildRun) -> None:
    assert seed_build.query("SELECT count(*) FROM v_progress WHERE period_key = '2021Q1'") == [(54,)]
    assert seed_build.query("SELECT min(target_no), max(target_no), count(DISTINCT target_no) FROM v_progress") == [
        (53, 106, 54)
    ]
    assert seed_build.query(
        "SELECT source_file, records_read, accepted, quarantined, status FROM dim_report"
    ) == [("heze-2021-Q1.txt", 58, 54, 4, "loaded")]
    assert seed_build.query(
        "SELECT source_file, source_line, target_no_text, raw_text FROM quarantine ORDER BY source_line"
    ) == [("heze-2021-Q1.txt", line, str(no), f"{no}\t曹升灵") for line, no in zip(range(31, 35), range(78, 82))]
    assert seed_build.query("SELECT count(*) FROM quarantine WHERE reason LIKE 'ghost record%'") == [(4,)]


def test_exact_rows(seed_build: BuildRun) -> None:
    (t103,) = seed_build.query(
        """SELECT publisher, period_key, year, quarter, leader_name, deadline_text, deadline_date::VARCHAR,
                  departments, lead_department, on_schedule, source_file, source_line
           FROM v_progress WHERE target_no = 103"""
    )
    assert t103 == (
        "菏泽市人民政府", "2021Q1", 2021, 1, "王忠想", "11月底", "2021-11-30",
        ["市住房城乡建设局", "市水务局"], "市住房城乡建设局", True, "heze-2021-Q1.txt", 31,
    )
    assert seed_build.query("SELECT deadline_date::VARCHAR FROM v_progress WHERE target_no = 76") == [("2021-06-30",)]
    assert seed_build.query("SELECT departments, lead_department, departments_text FROM v_progress WHERE target_no = 59") == [
        (["市科技局", "市发展改革委", "市工业和信息化局"], "市科技局", "市科技局、市发展改革委、市工业和信息化局")
    ]
    assert seed_build.query("SELECT leader_name, count(*) FROM v_progress GROUP BY 1 ORDER BY 1") == [
        ("曹升灵", 33),
        ("王忠想", 21),
    ]
    assert seed_build.query(
        "SELECT period_key, start_date::VARCHAR, end_date::VARCHAR, year_elapsed_share FROM dim_period"
    ) == [("2021Q1", "2021-01-01", "2021-03-31", 0.25)]
    assert seed_build.query(
        "SELECT count(*) FROM bridge_target_department WHERE is_lead"
    ) == seed_build.query("SELECT count(*) FROM fact_target_progress")


def _snapshot(run: BuildRun) -> dict[str, list[tuple]]:
    """Every table's rows, without load timestamps."""
    snapshot = {}
    for table in TABLES:
        exclude = " EXCLUDE (loaded_at)" if table == "dim_report" else ""
        snapshot[table] = run.query(f"SELECT *{exclude} FROM {table} ORDER BY ALL")
    return snapshot


def test_second_build_changes_nothing(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    warehouse, home = tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    first = run_build(raw, warehouse, home)
    assert first.returncode == 0, first.stdout + first.stderr
    before = _snapshot(first)
    second = run_build(raw, warehouse, home)
    assert second.returncode == 0, second.stdout + second.stderr
    after = _snapshot(second)
    assert {t: len(rows) for t, rows in after.items()} == {t: len(rows) for t, rows in before.items()}
    assert after == before
    assert len(before["fact_target_progress"]) == 54


def test_a_refused_file_fails_alone(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    (raw / "heze").mkdir(parents=True)
    shutil.copy2(SEED, raw / "heze" / SEED.name)
    bad = raw / "heze" / "notes.txt"
    bad.write_text("# 工作笔记\n\n序号\t内容\n1\t没有期间\n", encoding="utf-8")
    run = run_build(raw, tmp_path / "duban.duckdb", tmp_path / "home")
    assert run.returncode == 1
    assert f"refused {bad}: no reporting period found" in run.stdout
    assert "1 problem(s): 1 file(s) refused, 0 report(s) failed, 0 run(s) failed" in run.stdout
    assert run.query("SELECT source_file, status FROM dim_report") == [("heze/heze-2021-Q1.txt", "loaded")]
    assert run.query("SELECT count(*) FROM v_progress") == [(54,)]


def test_a_report_with_no_header_fails_alone(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    (raw / "other-2021-Q1.txt").write_text("# 某市2021年第一季度\n\n甲\t乙\t丙\t丁\n1\t2\t3\t4\n", encoding="utf-8")
    run = run_build(raw, tmp_path / "duban.duckdb", tmp_path / "home")
    assert run.returncode == 1
    assert "failed other-2021-Q1.txt: no header row found" in run.stdout
    assert run.query("SELECT source_file, status FROM dim_report ORDER BY 1") == [
        ("heze-2021-Q1.txt", "loaded"),
        ("other-2021-Q1.txt", "failed"),
    ]
    assert run.query("SELECT count(*) FROM v_progress") == [(54,)]


def test_reissued_file_replaces_the_period(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    warehouse, home = tmp_path / "duban.duckdb", tmp_path / "home"
    assert run_build(raw, warehouse, home).returncode == 0
    reissued = SEED.read_text(encoding="utf-8").replace("实施城市增绿工程\t年底\t已完成排查", "实施城市增绿工程\t年底\t已全部完成")
    (raw / "heze-2021-Q1-reissued.txt").write_text(reissued, encoding="utf-8")
    run = run_build(raw, warehouse, home)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.query("SELECT source_file, status FROM dim_report ORDER BY report_key") == [
        ("heze-2021-Q1.txt", "superseded"),
        ("heze-2021-Q1-reissued.txt", "loaded"),
    ]
    assert run.query("SELECT count(*) FROM v_progress") == [(54,)]
    assert run.query("SELECT progress_text, source_file FROM v_progress WHERE target_no = 106") == [
        ("已全部完成，列出增绿工程计划", "heze-2021-Q1-reissued.txt")
    ]


def test_worker_processes_build_the_same_warehouse(tmp_path: Path) -> None:
    from tests.report_writers import sample_records, write_csv, write_text

    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    for n in range(2, 5):
        write_text(raw / f"a-2021-Q{n}.txt", f"甲市人民政府2021年责任目标第{'二三四'[n - 2]}季度工作推进情况", sample_records(n=20, start=1, seed=n),
                   ghosts=[(1, "900", "张三丰")])
        write_csv(raw / f"b-2021-Q{n}.csv", f"乙市人民政府2021年责任目标第{'二三四'[n - 2]}季度工作推进情况", sample_records(n=15, start=1, seed=n))
    serial = run_build(raw, tmp_path / "s" / "duban.duckdb", tmp_path / "hs", env={"DUBAN_WORKERS": "1"})
    parallel = run_build(
        raw, tmp_path / "p" / "duban.duckdb", tmp_path / "hp", env={"DUBAN_WORKERS": "2", "DUBAN_PARALLEL_MIN_ITEMS": "1"}
    )
    assert serial.returncode == 0 and parallel.returncode == 0, parallel.stdout + parallel.stderr
    assert _snapshot(parallel) == _snapshot(serial)
    assert len(_snapshot(serial)["fact_target_progress"]) == 54 + 3 * (20 + 15)
