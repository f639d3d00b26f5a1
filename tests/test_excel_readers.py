"""calamine reads every workbook into the same grid as openpyxl (.xlsx) and xlrd (.xls), cell for cell."""

from __future__ import annotations

import datetime as dt
import io
import random
import re
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest
import xlwt
from openpyxl.styles import Alignment

from bench.excel_read import write_workbooks
from pipelines import read_excel
from pipelines.grid import GRID_SCHEMA
from pipelines.read_excel import openpyxl_reason, read_xls_grid, read_xlsx_grid, reference_grid
from tests.report_writers import sample_records, write_xls, write_xlsx

CORPUS = Path(__file__).parent / "bad_inputs" / "corpus"
TITLE = "测试市人民政府2022年经济社会发展责任目标上半年工作推进情况一览表"
LEADER_SETS = [("张三丰",), ("张三丰", "李四"), ("曹升灵", "王忠想", "张新华", "李卫东")]


def read_both(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the grid duban reads, the grid openpyxl/xlrd give) for one workbook."""
    data = path.read_bytes()
    reader = read_xls_grid if data.startswith(b"\xd0\xcf\x11\xe0") else read_xlsx_grid
    return reader(path, data)[0], reference_grid(path, data)


def assert_same_grid(path: Path) -> pl.DataFrame:
    ours, reference = read_both(path)
    assert ours.schema == reference.schema == pl.Schema(GRID_SCHEMA)
    assert ours.rows() == reference.rows(), path.name
    return ours


def todays_grid(path: Path) -> list[tuple[int, list[str]]]:
    """The grid as openpyxl/xlrd gave it before calamine: every row they report, merged cells filled, nothing trimmed."""
    data = path.read_bytes()
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        values, merged = read_excel.xlrd_xls_values(path, data)
    else:
        values, merged = read_excel.openpyxl_xlsx_values(data)
    read_excel._fill_merged(values, merged)
    return list(enumerate(values, start=1))


def generated_workbooks(folder: Path) -> list[Path]:
    """Workbooks as the tests and the benchmark corpus write them: varied records, leaders, footnotes and merges."""
    paths = []
    for seed in range(6):
        rng = random.Random(seed)
        records = sample_records(n=rng.randint(1, 60), start=rng.choice([1, 53, 9998]),
                                 leaders=LEADER_SETS[seed % 3], seed=seed)
        options = dict(footnote="注：数据截至6月30日" if seed % 2 else None, merge_leaders=seed != 4,
                       department_separator=" " if seed % 3 else "、")
        paths.append(write_xlsx(folder / f"g{seed}.xlsx", TITLE, records, **options).path)
        paths.append(write_xls(folder / f"g{seed}.xls", TITLE, records, **options).path)
    return paths


def test_generated_workbooks_read_alike_and_as_today(tmp_path: Path) -> None:
    for path in generated_workbooks(tmp_path) + write_workbooks(tmp_path / "bench", xlsx=3, xls=2):
        grid = assert_same_grid(path)
        assert [(n, cells) for n, cells in grid.rows()] == todays_grid(path), path.name
        assert grid["cells"].list.len().unique().to_list() == [7]
        leaders = [cells[1] for _, cells in grid.rows()[2:] if cells[0].isdigit()]
        assert leaders and all(leaders), f"{path.name}: a merged leader cell read empty"


def test_every_excel_file_of_the_bad_input_corpus_reads_alike() -> None:
    workbooks = [p for p in sorted(CORPUS.rglob("*")) if p.suffix in (".xlsx", ".xls")]
    readable = 0
    for path in workbooks:
        try:
            reference = reference_grid(path, path.read_bytes())
        except Exception:
            with pytest.raises(Exception, match="damaged or truncated"):
                read_both(path)
            continue
        assert read_both(path)[0].rows() == reference.rows(), path.name
        readable += 1
    assert readable >= 2  # formulas-2021-Q1.xlsx (through openpyxl) and legacy-renamed-2021-Q1.xlsx (an .xls)


def _cells_xlsx(path: Path) -> Path:
    """An .xlsx with every kind of value a report holds, merged ranges, leading blanks and formatted blanks past the data."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["B2"] = TITLE
    ws.merge_cells("B2:E2")
    ws.append([])
    rows = [
        [1, 1.0, 1.5, 1e20, 123456789012, -0.0, 0.1 + 0.2],
        [dt.datetime(2022, 6, 30), dt.date(2022, 6, 30), dt.datetime(2022, 6, 30, 12, 5, 7), dt.time(8, 30),
         dt.timedelta(hours=30)],
        [True, False, "a\r\nb", "  两端空格  ", "1.0", "＝全角等号", "序号"],
    ]
    for r, values in enumerate(rows, start=4):
        for c, value in enumerate(values, start=2):
            ws.cell(r, c, value)
    ws["C8"] = "领导"
    ws.merge_cells("C8:C11")
    ws["A12"] = "注：末行"
    ws["J20"].alignment = Alignment(wrap_text=True)  # formatted, no value: past the data
    ws.row_dimensions[25].height = 30
    wb.save(path)
    return path


def test_values_dates_merges_and_trailing_blanks_read_alike(tmp_path: Path) -> None:
    path = _cells_xlsx(tmp_path / "cells.xlsx")
    assert openpyxl_reason(path.read_bytes()) is None  # read by calamine
    grid = assert_same_grid(path)
    rows = dict(grid.rows())
    assert rows[2][1:5] == [TITLE] * 4 and rows[2][0] == ""
    assert rows[4][1:8] == ["1", "1", "1.5", "100000000000000000000", "123456789012", "0", "0.3"]
    assert rows[5][1:6] == ["2022-06-30", "2022-06-30", "2022-06-30T12:05:07", "08:30:00", "1 day, 6:00:00"]
    assert rows[6][1:5] == ["是", "否", "a\nb", "  两端空格  "]
    assert [rows[n][2] for n in range(8, 12)] == ["领导"] * 4
    # the grid ends at the last value (row 12, column H); the formatted J20 and row 25 are not rows of it
    assert grid["line_no"].to_list() == list(range(1, 13)) and len(rows[1]) == 8


def _xls_cells(path: Path) -> Path:
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Sheet1")
    ws.write_merge(0, 0, 0, 4, TITLE)
    ws.write(1, 0, 1)
    ws.write(1, 1, 1.0)
    ws.write(1, 2, 2.25)
    ws.write(1, 3, 1e20)
    ws.write(2, 0, dt.datetime(2022, 6, 30), xlwt.easyxf(num_format_str="YYYY-MM-DD"))
    ws.write(2, 1, dt.datetime(2022, 6, 30, 12, 5, 7), xlwt.easyxf(num_format_str="YYYY-MM-DD hh:mm:ss"))
    ws.write(3, 0, True)
    ws.write(3, 1, "第一行\n第二行")
    ws.write(3, 2, xlwt.Formula("1+1"))  # xlwt saves no result: both readers give an empty cell
    ws.write_merge(4, 6, 1, 1, "领导")
    ws.write(9, 6, None, xlwt.easyxf("align: wrap on"))  # formatted, no value
    wb.save(str(path))
    return path


def test_xls_values_dates_and_merges_read_alike(tmp_path: Path) -> None:
    grid = assert_same_grid(_xls_cells(tmp_path / "cells.xls"))
    rows = dict(grid.rows())
    assert rows[1] == [TITLE] * 5
    assert rows[2][:4] == ["1", "1", "2.25", "100000000000000000000"]
    assert rows[3][:2] == ["2022-06-30", "2022-06-30T12:05:07"]
    assert rows[4][:3] == ["是", "第一行\n第二行", ""]  # TRUE reads 是 as in an .xlsx
    assert [rows[n][1] for n in (5, 6, 7)] == ["领导"] * 3
    assert grid.height == 7 and len(rows[1]) == 5


def _rewrite_sheet(path: Path, edit) -> None:
    """Rewrite xl/worksheets/sheet1.xml of an .xlsx through edit(bytes) -> bytes."""
    members = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            members[info.filename] = archive.read(info)
    members["xl/worksheets/sheet1.xml"] = edit(members["xl/worksheets/sheet1.xml"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _formula_xlsx(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["序号", "公式", "文本"])
    ws.append([1, "=1+1", "文本"])
    ws.append([2, "=A3*10", "x"])
    wb.save(path)
    return path


def test_formulas_with_saved_results_are_read_by_calamine_with_their_results(tmp_path: Path) -> None:
    path = _formula_xlsx(tmp_path / "saved.xlsx")
    # as Excel saves it: each formula with its result
    _rewrite_sheet(path, lambda xml: re.sub(rb"<f>1\+1</f><v\s*/?>(?:</v>)?", b"<f>1+1</f><v>2</v>", xml))
    _rewrite_sheet(path, lambda xml: re.sub(rb"<f>A3\*10</f><v\s*/?>(?:</v>)?", b"<f>A3*10</f><v>20</v>", xml))
    data = path.read_bytes()
    assert openpyxl_reason(data) is None
    grid = assert_same_grid(path)
    assert [cells[1] for _, cells in grid.rows()] == ["公式", "2", "20"]


def test_formulas_without_results_and_error_cells_keep_their_text_through_openpyxl(tmp_path: Path) -> None:
    path = _formula_xlsx(tmp_path / "unsaved.xlsx")
    assert openpyxl_reason(path.read_bytes()) == "formula without a saved result"
    grid = assert_same_grid(path)
    assert [cells[1] for _, cells in grid.rows()] == ["公式", "=1+1", "=A3*10"]

    errors = tmp_path / "errors.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["序号", "#N/A", "#DIV/0!"])  # openpyxl stores error codes as error cells
    wb.save(errors)
    assert openpyxl_reason(errors.read_bytes()) == "error cell"
    assert assert_same_grid(errors).rows() == [(1, ["序号", "#N/A", "#DIV/0!"])]


def test_ordinary_workbooks_never_reach_openpyxl_or_xlrd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args):
        raise AssertionError("openpyxl/xlrd used for an ordinary workbook")

    paths = generated_workbooks(tmp_path)
    references = {p: reference_grid(p, p.read_bytes()).rows() for p in paths}
    monkeypatch.setattr(read_excel, "openpyxl_xlsx_values", refuse)
    monkeypatch.setattr(read_excel, "xlrd_xls_values", refuse)
    for path in paths:
        data = path.read_bytes()
        reader = read_xls_grid if path.suffix == ".xls" else read_xlsx_grid
        assert reader(path, data)[0].rows() == references[path]


def test_a_workbook_without_a_worksheet_is_refused(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.create_chartsheet("Chart")
    wb.remove(wb.active)
    buffer = io.BytesIO()
    wb.save(buffer)
    path = tmp_path / "chart-only.xlsx"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(Exception, match="damaged or truncated .*no worksheet"):
        read_xlsx_grid(path, path.read_bytes())
