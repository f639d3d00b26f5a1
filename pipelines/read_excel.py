"""Readers for Excel workbooks: .xlsx and legacy .xls through calamine (Rust), openpyxl only where calamine cannot.

calamine reads the first worksheet's values and its merged ranges. The grid is the same whichever
library read the sheet: every merged cell takes its range's top-left value; numbers that are whole
(1.0) read "1"; dates read 2022-06-30 (with the time when there is one); a formula cell reads the
result Excel saved; rows run from row 1 and columns from A to the last row and column that hold a
value, rows padded to one width (cells that are only formatted, past the data, are not part of it).

openpyxl (pure Python, about six times slower: bench/excel_read.py) reads an .xlsx only when a worksheet holds:
  - a formula cell with no saved result (a workbook written by a program, never opened in Excel):
    the formula text is kept, where calamine would give an empty cell;
  - an error cell (#N/A, #DIV/0!, …): openpyxl gives the error text, calamine an empty cell.
calamine reads every .xls; xlrd stays only as the reference that tests/test_excel_readers.py and the
benchmark compare calamine's grid with, cell for cell (xlrd read TRUE/FALSE as 1/0; both now read 是/否).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import polars as pl

from pipelines.errors import ReportRefused, TooLargeError
from pipelines.grid import cell_text, grid_from_rows
from pipelines.limits import check_cell_count

Ranges = list[tuple[int, int, int, int]]  # (first row, row after last, first column, column after last), 0-based

_WORKSHEET = re.compile(r"xl/worksheets/[^/]+\.xml")
_ERROR_CELL = re.compile(rb'<(?:\w+:)?c\b[^>]*\bt="e"')
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_CELL = re.compile(rb"<((?:\w+:)?)c\b[^>]*?(?:/>|>.*?</\1c>)", re.S)
_SAVED_VALUE = re.compile(rb"<(?:\w+:)?v>[^<]")

_XLSX_DAMAGED = "the Excel workbook is damaged or truncated ({}); open and re-save it, or get a fresh copy"
_XLS_DAMAGED = "the .xls workbook is damaged or truncated ({}); open and re-save it, or get a fresh copy"


def _fill_merged(values: list[list[str]], ranges: Ranges) -> None:
    """Give every cell of each merged range its top-left value."""
    for row_lo, row_hi, col_lo, col_hi in ranges:
        top_left = values[row_lo][col_lo] if row_lo < len(values) and col_lo < len(values[row_lo]) else ""
        if top_left:  # a range reaching below the last row with a value makes rows of its own
            values.extend([] for _ in range(row_hi - len(values)))
        for r in range(row_lo, min(row_hi, len(values))):
            row = values[r]
            row.extend([""] * (col_hi - len(row)))
            for c in range(col_lo, col_hi):
                row[c] = top_left


def _grid(values: list[list[str]], ranges: Ranges) -> pl.DataFrame:
    """One row per sheet row (line_no = the sheet's 1-based row number) up to the last row and column with a value."""
    _fill_merged(values, ranges)
    height = len(values)
    while height and not any(values[height - 1]):
        height -= 1
    width = 0
    for row in values[:height]:
        end = len(row)
        while end > width and not row[end - 1]:
            end -= 1
        width = max(width, end)
    if not height:
        return grid_from_rows([])
    flat = [cell for row in values[:height] for cell in (row + [""] * (width - len(row)))[:width]]
    cells = pl.Series("cells", flat, pl.String).reshape((height, width)).arr.to_list()  # 3× faster than from lists
    return pl.DataFrame([pl.Series("line_no", range(1, height + 1), pl.Int64), cells])


def _calamine_sheet(path: Path, data: bytes) -> tuple[list[list[str]], Ranges]:
    """The first worksheet's cell texts and merged ranges, read by calamine; checks the cell limit first."""
    from python_calamine import CalamineWorkbook, SheetTypeEnum

    workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    names = [m.name for m in workbook.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
    if not names:
        raise ValueError("the workbook has no worksheet")
    sheet = workbook.get_sheet_by_name(names[0])
    check_cell_count(path, sheet.height * sheet.width)
    values = [[cell_text(v) for v in row] for row in sheet.to_python(skip_empty_area=False)]
    merged = [(r0, r1 + 1, c0, c1 + 1) for (r0, c0), (r1, c1) in sheet.merged_cell_ranges or []]
    return values, merged


def openpyxl_reason(data: bytes) -> str | None:
    """Why an .xlsx must be read by openpyxl rather than calamine (a formula with no saved result, an error cell), or None."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if not _WORKSHEET.fullmatch(name):
                continue
            xml = archive.read(name)
            if b't="e"' in xml and _ERROR_CELL.search(xml):
                return "error cell"
            if b"f>" in xml and _FORMULA.search(xml) and any(  # every formula element ends in f> (</f>, </x:f>)
                _FORMULA.search(cell[0]) and not _SAVED_VALUE.search(cell[0]) for cell in _CELL.finditer(xml)
            ):
                return "formula without a saved result"
    return None


def openpyxl_xlsx_values(data: bytes) -> tuple[list[list[str]], Ranges]:
    """The first worksheet's cell texts and merged ranges, read by openpyxl (a formula keeps its text when it has no saved result)."""
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    values = [[cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    if any(v.startswith("=") for row in values for v in row):
        computed = openpyxl.load_workbook(io.BytesIO(data), data_only=True).worksheets[0]
        for r, row in enumerate(computed.iter_rows(values_only=True)):
            for c, value in enumerate(row):
                if value is not None and values[r][c].startswith("="):
                    values[r][c] = cell_text(value)
    return values, [(r.min_row - 1, r.max_row, r.min_col - 1, r.max_col) for r in sheet.merged_cells.ranges]


def xlrd_xls_values(path: Path, data: bytes) -> tuple[list[list[str]], Ranges]:
    """The first sheet's cell texts and merged ranges, read by xlrd (the reference the calamine reading is tested against)."""
    import xlrd

    book = xlrd.open_workbook(file_contents=data, formatting_info=True, logfile=io.StringIO(), on_demand=True)
    sheet = book.sheet_by_index(0)
    check_cell_count(path, sheet.nrows * sheet.ncols)

    def value(cell: "xlrd.sheet.Cell") -> str:
        if cell.ctype == xlrd.XL_CELL_DATE:
            return cell_text(xlrd.xldate.xldate_as_datetime(cell.value, book.datemode))
        if cell.ctype == xlrd.XL_CELL_BOOLEAN:  # xlrd gives 1/0; read as the .xlsx reader reads TRUE/FALSE
            return cell_text(bool(cell.value))
        return cell_text(cell.value)

    return [[value(c) for c in sheet.row(r)] for r in range(sheet.nrows)], list(sheet.merged_cells)


def read_xlsx_grid(path: Path, data: bytes) -> tuple[pl.DataFrame, str]:
    """Read the first worksheet of an .xlsx workbook, one row per sheet row; line_no is the sheet's row number."""
    try:
        if openpyxl_reason(data) is None:
            values, merged = _calamine_sheet(path, data)
        else:
            values, merged = openpyxl_xlsx_values(data)
    except TooLargeError:
        raise
    except Exception as error:  # a damaged file raises many unrelated types (zip, zlib, XML, index errors)
        raise ReportRefused(path, _XLSX_DAMAGED.format(error)) from None
    return _grid(values, merged), "xlsx"


def read_xls_grid(path: Path, data: bytes) -> tuple[pl.DataFrame, str]:
    """Read the first sheet of a legacy .xls workbook, one row per sheet row; line_no is the sheet's row number."""
    try:
        values, merged = _calamine_sheet(path, data)
    except TooLargeError:
        raise
    except Exception as error:  # a damaged file raises many unrelated types (OLE, record, index errors)
        raise ReportRefused(path, _XLS_DAMAGED.format(error)) from None
    return _grid(values, merged), "xls"


def reference_grid(path: Path, data: bytes) -> pl.DataFrame:
    """The grid openpyxl (.xlsx) or xlrd (.xls) gives for a workbook, one row per sheet row, to check calamine's against."""
    values, merged = (xlrd_xls_values(path, data) if data.startswith(b"\xd0\xcf\x11\xe0")
                      else openpyxl_xlsx_values(data))
    return _grid(values, merged)
