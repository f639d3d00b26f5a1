"""Sanity checks of the test-side report writers: read every format back with its own library."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import pytest

from tests.report_writers import (
    DEFAULT_HEADER,
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

SEED = Path(__file__).resolve().parent.parent / "raw" / "heze-2021-Q1.txt"
TITLE = "菏泽市人民政府2021年经济社会发展责任目标第二季度工作推进情况一览表"
SYNONYMS = ["序号", "分管市领导", "责任目标内容", "完成时限", "进展情况", "是否达到序时进度", "责任单位"]


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return sample_records()


def text_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """The file's lines without line endings (LF or CRLF)."""
    return path.read_bytes().decode(encoding).replace("\r\n", "\n").split("\n")


# ---------------------------------------------------------------- records


def test_sample_records_are_deterministic_and_varied(records):
    assert sample_records() == records
    assert sample_records(seed=1) != records
    assert [r.target_no for r in records] == [str(n) for n in range(53, 107)]
    assert [r.leader_name for r in records] == ["曹升灵"] * 27 + ["王忠想"] * 27
    assert {r.deadline_text for r in records} <= {"年底", "6月底", "11月底"}
    assert any(r.on_schedule == "否" for r in records)
    assert sum(r.on_schedule == "是" for r in records) > len(records) / 2
    assert any("\n" in r.progress_text for r in records)
    assert any(" 个小区" in r.progress_text for r in records)
    assert all(1 <= len(r.departments) <= 3 and len(set(r.departments)) == len(r.departments) for r in records)
    assert len(sample_records(5, start=1, leaders=("甲", "乙", "丙"))) == 5


def test_record_cells_join_departments():
    rec = Record("53", "曹升灵", "目标", "年底", "进展", "是", ["市科技局", "市发展改革委"])
    assert rec.cells() == ["53", "曹升灵", "目标", "年底", "进展", "是", "市科技局 市发展改革委"]
    assert rec.cells("、")[-1] == "市科技局、市发展改革委"


# ---------------------------------------------------------------- text export


def test_text_two_columns_layout(tmp_path, records):
    path = write_text(tmp_path / "r.txt", TITLE, records)
    lines = text_lines(path)
    assert lines[:4] == ["", "", f"# {TITLE}", ""]
    assert lines[4].split("\t") == DEFAULT_HEADER * 2
    assert len(lines) == 5 + 27
    assert not path.read_bytes().endswith(b"\n")
    layout = text_layout_lines(TITLE, records)
    assert layout.lines == lines and layout.ghost_lines == []
    for i, rec in enumerate(records):
        cells = lines[layout.record_lines[rec.target_no] - 1].split("\t")
        assert len(cells) == 14
        block = cells[:7] if i < 27 else cells[7:]
        assert block == [c.replace("\n", " ") for c in rec.cells()]
    assert layout.record_lines["53"] == 6 and layout.record_lines["80"] == 6 and layout.record_lines["106"] == 32


def test_text_reproduces_the_seed_shape(tmp_path, records):
    """Seed: 25 records left, 29 right, ghosts 78–81 (曹升灵) on data rows 25–28 = file lines 31–34."""
    seed = text_lines(SEED)
    leaders = {str(n): ("曹升灵" if n <= 85 else "王忠想") for n in range(53, 107)}
    recs = [dataclasses.replace(r, leader_name=leaders[r.target_no]) for r in records]
    ghosts = [(25 + k, str(78 + k), "曹升灵") for k in range(4)]
    path = write_text(tmp_path / "r.txt", "菏泽市人民政府2021年经济社会发展责任目标第一季度工作推进情况一览表",
                      recs, ghosts=ghosts, column_sizes=(25, 29))
    ours = text_lines(path)
    assert len(ours) == len(seed) == 34
    assert ours[:5] == seed[:5]
    for mine, theirs in zip(ours[5:], seed[5:]):
        a, b = mine.split("\t"), theirs.split("\t")
        assert len(a) == len(b) == 14
        assert [c == "" for c in a] == [c == "" for c in b]
        ghost = b[2] == ""
        keys = [0, 1, 6, 7] if ghost else [0, 1, 7, 8]
        assert [a[k] for k in keys] == [b[k] for k in keys]
    layout = text_layout_lines("t", recs, ghosts=ghosts, column_sizes=(25, 29))
    assert layout.ghost_lines == [(31, "78"), (32, "79"), (33, "80"), (34, "81")]
    assert layout.record_lines["77"] == 30 and layout.record_lines["103"] == 31 and layout.record_lines["78"] == 6


def test_text_ghost_pushes_left_records_down(tmp_path, records):
    recs = records[:10]                       # left 53–57, right 58–62
    path = write_text(tmp_path / "r.txt", TITLE, recs, ghosts=[(2, "99", "曹升灵")], footnote="注：测试")
    lines = text_lines(path)
    layout = text_layout_lines(TITLE, recs, ghosts=[(2, "99", "曹升灵")], footnote="注：测试")
    assert layout.ghost_lines == [(8, "99")]
    assert lines[7].split("\t") == ["99", "曹升灵", "", "", "", "", *[c.replace("\n", " ") for c in recs[7].cells()], ""]
    assert layout.record_lines["55"] == 9 and layout.record_lines["57"] == 11
    assert lines[10].split("\t")[7:] == [""] * 7     # left column is one longer than the right
    assert lines[-1] == "注：测试"
    assert sorted(layout.record_lines, key=int) == [r.target_no for r in recs]
    for rec in recs:
        assert lines[layout.record_lines[rec.target_no] - 1].count(rec.target_text) == 1


def test_text_three_per_row_and_header_override(tmp_path, records):
    recs = records[:7]                        # 3 + 3 + 1
    path = write_text(tmp_path / "r.txt", TITLE, recs, per_row=3, header=SYNONYMS)
    lines = text_lines(path)
    assert lines[4].split("\t") == SYNONYMS * 3
    rows = [line.split("\t") for line in lines[5:]]
    assert [[r[0], r[7], r[14]] for r in rows] == [["53", "56", "59"], ["54", "57", ""], ["55", "58", ""]]
    assert all(len(r) == 21 for r in rows)
    assert text_layout_lines(TITLE, recs, per_row=3).record_lines == {
        "53": 6, "56": 6, "59": 6, "54": 7, "57": 7, "55": 8, "58": 8}


@pytest.mark.parametrize(("kwargs", "prefix", "codec"), [
    ({}, b"", "utf-8"),
    ({"bom": True}, b"\xef\xbb\xbf", "utf-8-sig"),
    ({"encoding": "gb18030"}, b"\r\n\r\n#", "gb18030"),
    ({"encoding": "utf-16"}, b"\xff\xfe", "utf-16"),
    ({"encoding": "utf-16", "bom": True}, b"\xff\xfe\r\x00", "utf-16"),
])
def test_text_encodings_and_crlf(tmp_path, records, kwargs, prefix, codec):
    path = write_text(tmp_path / "r.txt", TITLE, records[:4], crlf=True, **kwargs)
    data = path.read_bytes()
    assert data.startswith(prefix)
    text = data.decode(codec)
    assert not text.startswith("\ufeff")
    assert text.count("\r\n") == text.count("\n") == 6 and not text.endswith("\n")
    assert text.split("\r\n")[2] == f"# {TITLE}"


# ---------------------------------------------------------------- CSV


def test_csv_rows_quoting_and_line_numbers(tmp_path, records):
    path = write_csv(tmp_path / "r.csv", TITLE, records, footnote="注：测试")
    raw = path.read_bytes().decode("gb18030")
    assert raw.startswith(TITLE + ",,,,,,\r\n")
    with path.open(encoding="gb18030", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [TITLE] + [""] * 6 and rows[1] == DEFAULT_HEADER and rows[-1][0] == "注：测试"
    assert rows[2:-1] == [r.cells("、") for r in records]
    multi = next(r for r in records if "\n" in r.progress_text)
    assert f'"{multi.progress_text}"' in raw                 # quoted, inner break stays a bare LF
    assert any('"' in r.progress_text for r in records) and '""' in raw
    comma = next(r for r in records if "," in r.progress_text and '"' not in r.progress_text)
    assert f'"{comma.progress_text}"' in raw
    physical = raw.split("\n")
    starts = csv_record_lines(TITLE, records, footnote="注：测试")
    assert starts["53"] == 3
    for rec in records:
        assert physical[starts[rec.target_no] - 1].startswith(rec.target_no + ",")
    assert starts["56"] == starts["55"] + 2                  # record 55 spans two physical lines


def test_csv_lf_utf8_bom(tmp_path, records):
    path = write_csv(tmp_path / "r.csv", TITLE, records[:3], encoding="utf-8", bom=True, crlf=False,
                     header=SYNONYMS, pad=False)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r" not in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == [TITLE] and rows[1] == SYNONYMS and len(rows) == 5


# ---------------------------------------------------------------- spreadsheets


def test_xlsx_layout_and_merges(tmp_path, records):
    from openpyxl import load_workbook

    path, rows = write_xlsx(tmp_path / "r.xlsx", TITLE, records, footnote="注：测试")
    ws = load_workbook(path).active
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert merged == {"A1:G1", "B3:B29", "B30:B56"}
    assert ws["A1"].value == TITLE and ws["B1"].value is None
    assert [c.value for c in ws[2]] == DEFAULT_HEADER
    assert rows == {r.target_no: 3 + i for i, r in enumerate(records)}
    assert ws["A3"].value == 53 and ws["B3"].value == "曹升灵" and ws["B4"].value is None
    assert ws["B30"].value == "王忠想"
    for rec in records:
        row = rows[rec.target_no]
        assert ws.cell(row, 5).value == rec.progress_text and ws.cell(row, 5).alignment.wrap_text
        assert ws.cell(row, 7).value == " ".join(rec.departments)
    assert ws["A57"].value == "注：测试"


def test_xlsx_without_merges(tmp_path, records):
    from openpyxl import load_workbook

    path, _ = write_xlsx(tmp_path / "r.xlsx", TITLE, records[:3], header=SYNONYMS, merge_leaders=False)
    ws = load_workbook(path).active
    assert {str(r) for r in ws.merged_cells.ranges} == {"A1:G1"}
    assert [ws.cell(r, 2).value for r in (3, 4, 5)] == ["曹升灵"] * 3
    assert [c.value for c in ws[2]] == SYNONYMS


def test_xls_layout_and_merges(tmp_path, records):
    import xlrd

    path, rows = write_xls(tmp_path / "r.xls", TITLE, records, footnote="注：测试")
    sheet = xlrd.open_workbook(str(path), formatting_info=True).sheet_by_index(0)  # merges need formatting_info
    assert sorted(sheet.merged_cells) == [(0, 1, 0, 7), (2, 29, 1, 2), (29, 56, 1, 2)]  # half-open, 0-based
    assert sheet.cell_value(0, 0) == TITLE and sheet.cell_value(0, 1) == ""
    assert sheet.row_values(1) == DEFAULT_HEADER
    assert rows["53"] == 3 and rows["106"] == 56
    for rec in records:
        r = rows[rec.target_no] - 1
        assert sheet.cell(r, 0).ctype == xlrd.XL_CELL_NUMBER and sheet.cell_value(r, 0) == float(rec.target_no)
        assert sheet.row_values(r)[2:] == rec.cells()[2:]
    assert sheet.cell_value(2, 1) == "曹升灵" and sheet.cell_value(3, 1) == ""
    assert sheet.cell_value(56, 0) == "注：测试"


def test_xls_single_record_runs_are_not_merged(tmp_path, records):
    import xlrd

    recs = [records[0], dataclasses.replace(records[1], leader_name="王忠想"), records[2]]
    path, _ = write_xls(tmp_path / "r.xls", TITLE, recs)
    sheet = xlrd.open_workbook(str(path), formatting_info=True).sheet_by_index(0)
    assert sheet.merged_cells == [(0, 1, 0, 7)]
    assert sheet.col_values(1, 2) == ["曹升灵", "王忠想", "曹升灵"]


# ---------------------------------------------------------------- Word and web page


def test_docx_title_and_table(tmp_path, records):
    from docx import Document

    path = write_docx(tmp_path / "r.docx", TITLE, records, header=SYNONYMS)
    doc = Document(str(path))
    assert doc.paragraphs[0].text == TITLE
    (table,) = doc.tables
    assert len(table.rows) == 1 + len(records)
    assert [c.text for c in table.rows[0].cells] == SYNONYMS
    for row, rec in zip(table.rows[1:], records):
        assert [c.text for c in row.cells] == rec.cells()


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_html_rowspans_and_lines(tmp_path, records, encoding):
    import lxml.html

    path, rows = write_html(tmp_path / "r.html", TITLE, records, encoding=encoding)
    data = path.read_bytes()
    lines = data.decode(encoding).split("\n")
    assert lines[0].startswith(f'<html><head><meta charset="{encoding}"><title>{TITLE}</title>')
    tree = lxml.html.document_fromstring(data)
    assert tree.findtext(".//title") == TITLE and tree.findtext(".//h3") == TITLE
    trs = tree.findall(".//tr")
    assert [th.text for th in trs[0].findall("th")] == DEFAULT_HEADER
    assert trs[1].findall("td")[1].get("rowspan") == "27" and len(trs[1].findall("td")) == 7
    assert len(trs[2].findall("td")) == 6
    for i, rec in enumerate(records):
        line = lines[rows[rec.target_no] - 1]
        assert line.startswith("<tr><td>") and line.endswith("</tr>")
        assert line.startswith(f"<tr><td>{rec.target_no}</td>")
        assert rows[rec.target_no] == 3 + i
        tds = [td.text_content() for td in trs[1 + i].findall("td")]
        expected = [c.replace("\n", "") for c in rec.cells()]
        assert tds == (expected if i in (0, 27) else expected[:1] + expected[2:])


def test_html_without_rowspans(tmp_path, records):
    import lxml.html

    path, _ = write_html(tmp_path / "r.html", TITLE, records[:3], rowspan_leaders=False, footnote="注：测试")
    tree = lxml.html.document_fromstring(path.read_bytes())
    assert all(len(tr.findall("td")) == 7 for tr in tree.findall(".//tr")[1:])
    assert not tree.xpath("//td[@rowspan]")
    assert tree.findtext(".//p") == "注：测试"
