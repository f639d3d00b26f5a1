"""Four quarters of the seed's 54 targets, each published in another shape (shared by several test modules)."""

import shutil
from dataclasses import replace

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


def build_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuildRun, dict[str, list[Record]]]:
    root = tmp_path_factory.mktemp("history")
    raw = root / "raw" / "heze"
    raw.mkdir(parents=True)
    shutil.copy2(SEED, raw / SEED.name)
    q1 = seed_records()
    # Q2: target 60 slips, 61 repeats its Q1 progress, 85's 建設 is written 建设 (the same target)
    q2 = quarter(q1, "二季度", {60: "否"}, {61}, q1, texts={85: q1[85 - 53].target_text.replace("建設", "建设")})
    q3 = quarter(q1, "三季度", {60: "是", 62: "否"}, {70}, q2, texts={106: EDITED_106}, multiline=True)
    q4 = quarter(q1, "四季度", {76: "否"}, set(), q3, multiline=True)  # 76 (due 6月底) falls behind
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
