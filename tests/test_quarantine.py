"""Every rejected record lands in quarantine with a reason; nothing is dropped or overwritten."""

from pathlib import Path

import polars as pl
import pytest

from pipelines.errors import ReportRefused, UnknownHeaderError
from pipelines.process import process_report
from pipelines.reports import read_report

TITLE = "# 测试市人民政府2021年责任目标第二季度工作推进情况一览表"
HEADER = ["序号", "市政府领导", "责任目标内容", "完成时限", "完成情况", "是否完成计划进度", "责任单位"]


def record(no: int | str, text: str = "目标", flag: str = "是", departments: str = "市发展改革委") -> list[str]:
    return [str(no), "张三", f"{text}{no}", "年底", f"进展{no}", flag, departments]


def write_report(tmp_path: Path, rows: list[list[str]], header: list[str] | None = None, two_up: bool = True) -> Path:
    head = header or (HEADER + HEADER if two_up else HEADER)
    lines = [TITLE, "", "\t".join(head), *("\t".join(r) for r in rows)]
    path = tmp_path / "test-2021-Q2.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def process(path: Path):
    return process_report(read_report(path, path.parent))


def reasons(result) -> dict[int, str]:
    return dict(result.quarantine.select("source_line", "reason").iter_rows())


def test_conflicting_duplicate_numbers_are_both_quarantined(tmp_path: Path) -> None:
    rows = [record(1) + record(2), record(3) + record(2, text="另一个目标")]
    result = process(write_report(tmp_path, rows))
    assert sorted(result.accepted["target_no"].to_list()) == [1, 3]
    q = result.quarantine.sort("source_line")
    assert q["target_no_text"].to_list() == ["2", "2"]
    assert q["reason"].to_list() == ["target number 2 appears on lines 4, 5 with different content; none of them is loaded"] * 2
    assert result.records_read == 4


def test_exact_duplicate_keeps_the_first(tmp_path: Path) -> None:
    rows = [record(1) + record(2), record(3) + record(2)]
    result = process(write_report(tmp_path, rows))
    assert sorted(result.accepted["target_no"].to_list()) == [1, 2, 3]
    assert reasons(result) == {5: "exact duplicate of the record on line 4"}
    assert result.accepted.filter(pl.col("target_no") == 2)["source_line"].to_list() == [4]


def test_validation_failures_name_column_check_and_value(tmp_path: Path) -> None:
    rows = [record(1, flag="") + record(2, departments="")]
    result = process(write_report(tmp_path, rows))
    assert result.accepted.is_empty()
    q = {row["target_no_text"]: row for row in result.quarantine.iter_rows(named=True)}
    assert "on_schedule_text" in q["1"]["column_name"]
    assert "str_length(1, None)" in q["1"]["check_name"]
    assert q["1"]["reason"].startswith("failed check")
    assert q["2"]["column_name"] == "departments"
    assert q["2"]["check_name"] == "at_least_one_department"
    assert {row["source_line"] for row in q.values()} == {4}


def test_stray_cells_beyond_a_record(tmp_path: Path) -> None:
    rows = [record(1), record(2) + ["多出来的", "单元格"]]
    result = process(write_report(tmp_path, rows, two_up=False))
    assert result.accepted["target_no"].to_list() == [1]
    assert reasons(result) == {5: "2 cells beyond the record's columns; the row may be misaligned"}
    assert result.quarantine["raw_cells"][0].to_list() == record(2) + ["多出来的", "单元格"]


def test_cells_outside_any_record(tmp_path: Path) -> None:
    rows = [record(1), ["", "", "续：上一行的进展说明", "", "", "", ""]]
    result = process(write_report(tmp_path, rows, two_up=False))
    assert reasons(result) == {5: "cells outside any record: no target number followed by a leader's name before them"}
    assert result.records_read == 2


def test_blank_lines_footnotes_and_half_empty_rows_are_not_records(tmp_path: Path) -> None:
    rows = [record(1) + record(3), record(2) + [""] * 7, [""] * 14, ["注：本表由市政府办公室汇总。"]]
    result = process(write_report(tmp_path, rows))
    assert sorted(result.accepted["target_no"].to_list()) == [1, 2, 3]
    assert result.quarantine.is_empty()
    # title, blank, header, the blank row and the footnote
    assert result.skipped_lines == 5


def test_unknown_header_is_refused_with_found_and_expected_columns(tmp_path: Path) -> None:
    path = write_report(tmp_path, [record(1)], header=["编码", "领导", "内容", "时间", "情况", "是否", "单位"])
    with pytest.raises(UnknownHeaderError) as refused:
        process(path)
    message = str(refused.value)
    assert "no header row found; expected the columns 序号、市政府领导、责任目标内容" in message
    assert "the closest row, line 3, has: 编码、领导、内容、时间、情况、是否、单位" in message


def test_header_missing_a_column_is_refused(tmp_path: Path) -> None:
    header = [h for h in HEADER if h != "完成时限"]
    path = write_report(tmp_path, [record(1)], header=header)
    with pytest.raises(UnknownHeaderError, match="lacks deadline_text in record block 1"):
        process(path)


def test_halves_with_different_header_orders_are_refused(tmp_path: Path) -> None:
    swapped = HEADER[:2] + [HEADER[3], HEADER[2]] + HEADER[4:]
    path = write_report(tmp_path, [record(1) + record(2)], header=HEADER + swapped)
    with pytest.raises(ReportRefused, match="list their columns in different orders"):
        process(path)


def test_rows_failing_a_table_model_refuse_their_report_only(tmp_path: Path) -> None:
    from dataclasses import replace

    from pipelines.table_rows import rows_for_tables

    good = process(write_report(tmp_path, [record(1) + record(2)]))
    # a report whose accepted rows repeat a target number cannot be staged
    bad = replace(good, accepted=pl.concat([good.accepted, good.accepted.head(1)]))
    staged, failures = rows_for_tables([good, bad])
    assert list(failures) == [1]
    assert failures[1].startswith("rows staged for the warehouse fail DimTargetRow: DimTargetRow multiple_fields_uniqueness")
    assert staged.reports["report_idx"].to_list() == [0]
    assert set(staged.facts["report_idx"].unique()) == {0}


STATUS_WORDS = {
    "是": "on_schedule", "达到": "on_schedule", "达进度": "on_schedule", "符合序时进度": "on_schedule",
    "序时推进": "on_schedule", "按序时推进": "on_schedule",
    "否": "behind", "未达到": "behind", "欠进度": "behind", "滞后": "behind", "滞后序时": "behind",
    "未达序时进度": "behind",
    "已完成": "completed", "完成": "completed", "提前完成": "completed", "全部完成": "completed",
    "超序时进度": "ahead", "超进度": "ahead", "超额完成": "ahead",
    "基本达到": "other", "正在推进": "other",
}


def test_every_status_word_loads_with_its_status(tmp_path: Path) -> None:
    words = list(STATUS_WORDS)
    rows = [record(i + 1, flag=word) for i, word in enumerate(words)]
    result = process(write_report(tmp_path, rows, two_up=False))
    assert result.quarantine.is_empty(), result.quarantine
    got = {r["on_schedule_text"]: (r["progress_status"], r["on_schedule"]) for r in result.accepted.iter_rows(named=True)}
    expected_flag = {"completed": True, "ahead": True, "on_schedule": True, "behind": False, "other": None}
    assert got == {word: (status, expected_flag[status]) for word, status in STATUS_WORDS.items()}


def test_status_words_match_after_width_and_space_folding(tmp_path: Path) -> None:
    rows = [record(1, flag=" 已 完成 "), record(2, flag="超序时进度\u3000")]
    result = process(write_report(tmp_path, rows, two_up=False))
    assert result.accepted.sort("target_no")["progress_status"].to_list() == ["completed", "ahead"]
    assert result.accepted.sort("target_no")["on_schedule_text"].to_list() == ["已 完成", "超序时进度"]


def test_a_refusal_reads_the_same_whichever_reports_are_validated_with_it(tmp_path: Path) -> None:
    """The warehouse compares a stored refusal with a new derivation's: a row number of the batch would differ."""
    from dataclasses import replace

    from pipelines.table_rows import rows_for_tables

    good = process(write_report(tmp_path, [record(1) + record(2)]))
    bad = replace(good, accepted=pl.concat([good.accepted, good.accepted.head(1)]))
    _, alone = rows_for_tables([bad])
    _, after_another = rows_for_tables([good, good, bad])
    assert alone[0] == after_another[2]
    assert "(row 1)" in alone[0] and f"(row {good.accepted.height + 1})" in alone[0]
