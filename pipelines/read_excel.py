"""Readers for Excel workbooks (.xlsx through openpyxl, legacy .xls through xlrd); merged cells take their top-left value."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from pipelines.errors import ReportRefused, TooLargeError
from pipelines.limits import check_cell_count
from pipelines.grid import cell_text, grid_from_rows


def _fill_merged(values: list[list[str]], ranges: list[tuple[int, int, int, int]]) -> None:
    """Give every cell of each merged range (0-based, end-exclusive rows and columns) its top-left value."""
    for row_lo, row_hi, col_lo, col_hi in ranges:
        top_left = values[row_lo][col_lo] if row_lo < len(values) and col_lo < len(values[row_lo]) else ""
        for r in range(row_lo, min(row_hi, len(values))):
            row = values[r]
            row.extend([""] * (col_hi - len(row)))
            for c in range(col_lo, col_hi):
                row[c] = top_left


def _grid(values: list[list[str]]) -> pl.DataFrame:
    return grid_from_rows([(n, row) for n, row in enumerate(values, start=1)])


def read_xlsx_grid(path: Path, data: bytes) -> tuple[pl.DataFrame, str]:
    """Read the first worksheet of an .xlsx workbook; line_no is the sheet's row number."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data))
        sheet = workbook.worksheets[0]
        values = [[cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        if any(v.startswith("=") for row in values for v in row):
            # formula cells: take Excel's saved result where there is one, else keep the formula as text
            computed = openpyxl.load_workbook(io.BytesIO(data), data_only=True).worksheets[0]
            for r, row in enumerate(computed.iter_rows(values_only=True)):
                for c, value in enumerate(row):
                    if value is not None and values[r][c].startswith("="):
                        values[r][c] = cell_text(value)
    except Exception as error:  # a damaged file raises many unrelated types (zip, zlib, XML, index errors)
        raise ReportRefused(
            path, f"the Excel workbook is damaged or truncated ({error}); open and re-save it, or get a fresh copy"
        ) from None
    ranges = [(r.min_row - 1, r.max_row, r.min_col - 1, r.max_col) for r in sheet.merged_cells.ranges]
    _fill_merged(values, ranges)
    return _grid(values), "xlsx"


def read_xls_grid(path: Path, data: bytes) -> tuple[pl.DataFrame, str]:
    """Read the first sheet of a legacy .xls workbook; line_no is the sheet's row number."""
    import xlrd

    def value(cell: "xlrd.sheet.Cell") -> str:
        if cell.ctype == xlrd.XL_CELL_DATE:
            return cell_text(xlrd.xldate.xldate_as_datetime(cell.value, book.datemode))
        return cell_text(cell.value)

    try:
        book = xlrd.open_workbook(file_contents=data, formatting_info=True, logfile=io.StringIO(), on_demand=True)
        sheet = book.sheet_by_index(0)
        check_cell_count(path, sheet.nrows * sheet.ncols)
        values = [[value(c) for c in sheet.row(r)] for r in range(sheet.nrows)]
    except TooLargeError:
        raise
    except Exception as error:  # a damaged file raises many unrelated types (struct, OLE, index, key errors)
        raise ReportRefused(
            path, f"the .xls workbook is damaged or truncated ({error}); open and re-save it, or get a fresh copy"
        ) from None
    _fill_merged(values, list(sheet.merged_cells))
    return _grid(values), "xls"
