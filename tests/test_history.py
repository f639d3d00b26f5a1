"""Four quarters of the seed's 54 targets, each published in another shape, built into one history."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from pipelines.process import process_report
from pipelines.reports import read_report
from tests.conftest import SEED, BuildRun, run_build
from tests.report_writers import Record, write_csv, write_text, write_xlsx

PUBLISHER = "菏泽市人民政府"
EDITED_106 = "实施城市增绿工程，新增城市绿地 100 公顷"


def seed_records() -> list[Record]:
    accepted = process_report(read_report(SEED, SEED.parent)).accepted.sort("target_no")
    return [
        Record(str(r["target_no"]), r["leader_name"], r["target_text"], r["deadline_text"], r["progress_text"],
               r["on_schedule_text"], list(r["departments"]))
        for r in accepted.iter_rows(named=True)
    ]


def quarter(records: list[Record], label: str, flags: dict[int, str], stale: set[int], previous: list[Record],
            texts: dict[int, str] = {}, multiline: bool = False) -> list[Record]:
    """The next quarter's records: new progress (except `stale` targets), changed flags and edited texts."""
    before = {r.target_no: r for r in previous}
    out = []
    for r in records:
        n = int(r.target_no)
        progress = before[r.target_no].progress_text if n in stale else f"{label}：{r.progress_text[:40]}"
        if multiline and n % 4 == 0 and n not in stale:
            progress = f"{label}：\n{r.progress_text[:30]}"
        out.append(replace(r, progress_text=progress, on_schedule=flags.get(n, before[r.target_no].on_schedule),
                           target_text=texts.get(n, before[r.target_no].target_text)))
    return out


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuildRun, dict[str, list[Record]]]:
    root = tmp_path_factory.mktemp("history")
    raw = root / "raw" / "heze"
    raw.mkdir(parents=True)
    shutil.copy2(SEED, raw / SEED.name)
    q1 = seed_records()
    # Q2: target 60 slips, 61 repeats its Q1 progress, 85's 建設 is written 建设 (the same target)
    q2 = quarter(q1, "二季度", {60: "否"}, {61}, q1, texts={85: q1[85 - 53].target_text.replace("建設", "建设")})
    q3 = quarter(q1, "三季度", {60: "是", 62: "否"}, {70}, q2, texts={106: EDITED_106}, multiline=True)
    q4 = quarter(q1, "四季度", {}, set(), q3, multiline=True)
    write_text(raw / "heze-2021-Q2.txt", f"{PUBLISHER}2021年经济社会发展责任目标上半年工作推进情况一览表", q2,
               per_row=2, bom=True, crlf=True, ghosts=[(3, "80", "曹升灵"), (5, "81", "曹升灵")])
    write_xlsx(raw / "heze-2021-Q3.xlsx", f"{PUBLISHER}2021年经济社会发展责任目标前三季度工作推进情况一览表", q3,
               header=["序号", "市政府领导", "责任目标内容", "完成时限", "进展情况", "是否完成计划进度", "责任单位"])
    write_csv(raw / "heze-2021-Q4.csv", f"{PUBLISHER}2021年经济社会发展责任目标全年工作推进情况一览表", q4,
              encoding="gb18030", department_separator="、",
              header=["序号", "分管市领导", "责任目标内容", "完成时限", "完成情况", "是否达到序时进度", "责任单位"])
    (raw / "notes.txt").write_text("# 工作笔记\n\n序号\t内容\n1\t没有期间\n", encoding="utf-8")
    (raw / "heze-2021-Q2-draft.txt").write_text("# 2021年上半年草稿\n\n甲\t乙\t丙\n", encoding="utf-8")
    run = run_build(root / "raw", root / "duban.duckdb", root / "home")
    return run, {"2021Q1": q1, "2021Q2": q2, "2021Q3": q3, "2021Q4": q4}


def test_bad_files_fail_alone_and_are_named(history) -> None:
    run, _ = history
    assert run.returncode == 1
    assert f"refused {run.raw / 'heze' / 'notes.txt'}: no reporting period found" in run.stdout
    assert "failed heze/heze-2021-Q2-draft.txt: no header row found" in run.stdout
    assert run.query("SELECT period_key, status, count(*) FROM dim_report GROUP BY ALL ORDER BY ALL") == [
        ("2021Q1", "loaded", 1), ("2021Q2", "failed", 1), ("2021Q2", "loaded", 1),
        ("2021Q3", "loaded", 1), ("2021Q4", "loaded", 1),
    ]


def test_every_period_holds_the_exact_records_of_its_file(history) -> None:
    run, quarters = history
    for period, records in quarters.items():
        rows = run.query(
            """SELECT target_no, leader_name, target_text, deadline_text, progress_text, on_schedule, departments
               FROM v_progress WHERE period_key = ? ORDER BY target_no""",
            [period],
        )
        newline = " " if period == "2021Q2" else "\n"  # the text export cannot hold a line break in a cell
        want = [
            (int(r.target_no), r.leader_name, r.target_text, r.deadline_text,
             r.progress_text.replace("\n", newline), r.on_schedule == "是", r.departments)
            for r in records
        ]
        assert rows == want, period


def test_every_raw_record_is_a_fact_or_quarantined(history) -> None:
    run, _ = history
    assert run.query(
        """SELECT r.period_key, r.records_read, count(DISTINCT f.target_key), r.quarantined
           FROM dim_report r LEFT JOIN fact_target_progress f USING (report_key)
           WHERE r.status = 'loaded' GROUP BY ALL ORDER BY 1"""
    ) == [("2021Q1", 58, 54, 4), ("2021Q2", 56, 54, 2), ("2021Q3", 54, 54, 0), ("2021Q4", 54, 54, 0)]
    assert run.query("SELECT count(*) FROM quarantine WHERE reason LIKE 'ghost record%'") == [(6,)]


def test_identity_and_versions(history) -> None:
    run, _ = history
    assert run.query(
        "SELECT version, valid_from_period, valid_to_period, target_text FROM dim_target WHERE target_no = 106 ORDER BY version"
    ) == [(1, "2021Q1", "2021Q3", "实施城市增绿工程"), (2, "2021Q3", None, EDITED_106)]
    assert run.query("SELECT count(*) FROM dim_target WHERE target_no = 85") == [(1,)]
    assert run.query("SELECT count(*) FROM dim_target") == [(55,)]
    assert run.query("SELECT target_no, previous_text, target_text, valid_from_period FROM v_target_changes") == [
        (106, "实施城市增绿工程", EDITED_106, "2021Q3")
    ]


def test_schedule_changes(history) -> None:
    run, _ = history
    assert run.query(
        """SELECT target_no, previous_period_key, period_key, previous_on_schedule, on_schedule, change
           FROM v_schedule_changes ORDER BY period_key, target_no"""
    ) == [
        (60, "2021Q1", "2021Q2", True, False, "slipped"),
        (60, "2021Q2", "2021Q3", False, True, "caught up"),
        (62, "2021Q2", "2021Q3", True, False, "slipped"),
    ]


def test_stale_progress(history) -> None:
    run, quarters = history
    assert run.query("SELECT target_no, previous_period_key, period_key FROM v_stale_progress ORDER BY period_key") == [
        (61, "2021Q1", "2021Q2"),
        (70, "2021Q2", "2021Q3"),
    ]


def test_target_history_side_by_side(history) -> None:
    run, _ = history
    assert run.query(
        """SELECT q1_on_schedule, q2_on_schedule, q3_on_schedule, q4_on_schedule, periods_reported, len(history)
           FROM v_target_history WHERE target_no = 60"""
    ) == [(True, False, True, True, 4, 4)]
    assert run.query("SELECT count(*) FROM v_target_history") == [(54,)]


def test_department_scorecard(history) -> None:
    run, quarters = history
    for period, records in quarters.items():
        led = [r for r in records if r.departments[0] == "市工业和信息化局"]
        on = sum(r.on_schedule == "是" for r in led)
        assert run.query(
            """SELECT targets_led, led_on_schedule, share_on_schedule FROM v_department_scorecard
               WHERE period_key = ? AND department_name = '市工业和信息化局'""",
            [period],
        ) == [(len(led), on, round(on / len(led), 4))], period
    assert run.query("SELECT sum(targets_led) FROM v_department_scorecard WHERE period_key = '2021Q3'") == [(54,)]
