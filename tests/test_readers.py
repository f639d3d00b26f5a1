"""Every reader, encoding, layout and header synonym gives the reshaper the same records."""

from pathlib import Path

import pytest

from pipelines.errors import ReportRefused, UndecodableError
from pipelines.process import process_report
from pipelines.reports import read_report
from tests.report_writers import (
    Record,
    csv_record_lines,
    sample_records,
    text_layout_lines,
    write_csv,
    write_docx,
    write_html,
    write_text,
    write_xls,
    write_xlsx,
)

TITLE = "测试市人民政府2022年经济社会发展责任目标上半年工作推进情况一览表"
RECORDS = sample_records(n=13, start=1, leaders=("张三丰", "李四"))
SYNONYMS = ["编号", "分管市领导", "目标内容", "完成时间", "进展情况", "是否达到序时进度", "牵头单位"]


def expected(records: list[Record], newline: str = "\n") -> set[tuple]:
    """What the accepted rows must hold, as comparable tuples."""
    return {
        (int(r.target_no), r.leader_name, r.target_text, r.deadline_text, r.progress_text.replace("\n", newline),
         r.on_schedule == "是", tuple(r.departments))
        for r in records
    }


def accepted_tuples(result) -> set[tuple]:
    rows = result.accepted.select(
        "target_no", "leader_name", "target_text", "deadline_text", "progress_text", "on_schedule", "departments"
    ).rows()
    return {(*row[:6], tuple(row[6])) for row in rows}


def load(path: Path):
    result = process_report(read_report(path, path.parent))
    assert result.records_read == result.accepted.height + result.quarantine.height
    return result


def source_lines(result) -> dict[str, int]:
    return {str(n): line for n, line in result.accepted.select("target_no", "source_line").rows()}


@pytest.mark.parametrize("per_row", [1, 2, 3])
@pytest.mark.parametrize(
    ("encoding", "bom", "crlf"),
    [("utf-8", False, False), ("utf-8", True, True), ("gb18030", False, True), ("utf-16", False, False)],
)
def test_text_layouts_and_encodings(tmp_path: Path, per_row: int, encoding: str, bom: bool, crlf: bool) -> None:
    path = write_text(tmp_path / "t.txt", TITLE, RECORDS, per_row=per_row, encoding=encoding, bom=bom, crlf=crlf)
    result = load(path)
    assert accepted_tuples(result) == expected(RECORDS, newline=" ")
    assert result.quarantine.is_empty()
    assert source_lines(result) == text_layout_lines(TITLE, RECORDS, per_row=per_row).record_lines
    assert result.report.period.key == "2022Q2"
    assert result.report.publisher == "测试市人民政府"


@pytest.mark.parametrize("per_row", [2, 3])
def test_text_with_ghosts_in_any_layout(tmp_path: Path, per_row: int) -> None:
    ghosts = [(0, "900", "张三丰"), (2, "901", "李四")]
    path = write_text(tmp_path / "t.txt", TITLE, RECORDS, per_row=per_row, ghosts=ghosts)
    result = load(path)
    layout = text_layout_lines(TITLE, RECORDS, per_row=per_row, ghosts=ghosts)
    assert accepted_tuples(result) == expected(RECORDS, newline=" ")
    assert source_lines(result) == layout.record_lines
    assert sorted(result.quarantine.select("source_line", "target_no_text").rows()) == sorted(layout.ghost_lines)
    assert all(reason.startswith("ghost record") for reason in result.quarantine["reason"])


@pytest.mark.parametrize(("encoding", "bom"), [("gb18030", False), ("utf-8", True), ("utf-8", False)])
def test_csv_with_quoted_multiline_cells(tmp_path: Path, encoding: str, bom: bool) -> None:
    path = write_csv(tmp_path / "c.csv", TITLE, RECORDS, encoding=encoding, bom=bom, header=SYNONYMS,
                     footnote="注：本表由市政府督查室汇总，如有出入以各单位报送为准。")
    result = load(path)
    assert accepted_tuples(result) == expected(RECORDS)
    assert any("\n" in text for text in result.accepted["progress_text"])
    assert source_lines(result) == csv_record_lines(TITLE, RECORDS, header=SYNONYMS, department_separator="、",
                                                    footnote="注：本表由市政府督查室汇总，如有出入以各单位报送为准。")
    assert result.quarantine.is_empty()
    assert result.report.encoding == {"gb18030": "gb18030", "utf-8": "utf-8-sig" if bom else "utf-8"}[encoding]


@pytest.mark.parametrize("writer", [write_xlsx, write_xls], ids=["xlsx", "xls"])
def test_excel_with_merged_title_and_leaders(tmp_path: Path, writer) -> None:
    suffix = ".xlsx" if writer is write_xlsx else ".xls"
    written = writer(tmp_path / f"e{suffix}", TITLE, RECORDS, header=SYNONYMS, footnote="注：数据截至6月30日")
    result = load(written.path)
    assert result.report.title == TITLE and result.report.period.key == "2022Q2"
    assert accepted_tuples(result) == expected(RECORDS)
    assert source_lines(result) == written.rows
    assert result.quarantine.is_empty()
    # the leader cell is merged down: every record still gets its leader
    assert result.accepted.group_by("leader_name").len().sort("leader_name").rows() == [("张三丰", 7), ("李四", 6)]


def test_docx_table(tmp_path: Path) -> None:
    result = load(write_docx(tmp_path / "d.docx", TITLE, RECORDS))
    assert result.report.title == TITLE
    assert accepted_tuples(result) == expected(RECORDS)


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_html_table_with_rowspan_leaders(tmp_path: Path, encoding: str) -> None:
    written = write_html(tmp_path / "h.html", TITLE, RECORDS, encoding=encoding)
    result = load(written.path)
    assert result.report.title == TITLE
    assert accepted_tuples(result) == expected(RECORDS)
    assert source_lines(result) == written.rows


def test_reader_chosen_by_content_not_name(tmp_path: Path) -> None:
    written = write_xlsx(tmp_path / "e.xlsx", TITLE, RECORDS)
    renamed = tmp_path / "report-2022-Q2.dat.txt"
    renamed.write_bytes(written.path.read_bytes())
    assert load(renamed).report.reader == "read_xlsx_grid"


def test_garbage_is_refused_naming_the_encodings_tried(tmp_path: Path) -> None:
    path = tmp_path / "garbage-2021-Q1.txt"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(UndecodableError) as refused:
        read_report(path, tmp_path)
    assert str(refused.value) == (
        f"{path}: the file is not readable text (tried UTF-8 with BOM, UTF-16 with BOM, UTF-8, GB18030); "
        "save it as UTF-8 or GB18030 text, or check that it is not a binary file with a text name"
    )


def test_truncated_workbook_is_refused(tmp_path: Path) -> None:
    written = write_xlsx(tmp_path / "e.xlsx", TITLE, RECORDS)
    data = written.path.read_bytes()
    written.path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReportRefused, match="damaged or truncated"):
        read_report(written.path, tmp_path)


def test_footnotes_and_blank_lines_are_skipped_not_quarantined(tmp_path: Path) -> None:
    path = write_text(tmp_path / "t.txt", TITLE, RECORDS, per_row=1)
    path.write_text(path.read_text(encoding="utf-8") + "\n\n注：本表由市政府办公室汇总。\n", encoding="utf-8")
    result = load(path)
    assert result.quarantine.is_empty()
    assert result.accepted.height == 13
    # before the table: 2 blank lines, title, blank, header; after it: a blank line, the footnote, the final empty line
    assert result.skipped_lines == 8
