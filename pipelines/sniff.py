"""Choose the reader for a raw file by its content first and its name second."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Callable

import polars as pl

from pipelines.errors import ReportRefused
from pipelines.limits import check_cell_count, check_zip_expansion, count_xlsx_cells
from pipelines.read_csv import read_csv_grid
from pipelines.read_docx import read_docx_grid
from pipelines.read_excel import read_xls_grid, read_xlsx_grid
from pipelines.read_html import read_html_grid
from pipelines.read_text import read_text_grid

Reader = Callable[[Path, bytes], tuple[pl.DataFrame, str]]

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
TEXT_SUFFIXES = {".txt", ".tsv", ".csv", ".htm", ".html", ""}
SUPPORTED = ".txt .tsv .csv .xlsx .xls .docx .htm .html"


def _zip_reader(path: Path, data: bytes) -> Reader:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise ReportRefused(
            path, "the file is a damaged or truncated zip container (.xlsx/.docx); re-save it or get a fresh copy"
        ) from None
    check_zip_expansion(path, archive)  # before any member is unzipped
    if "xl/workbook.xml" in names:
        try:
            cells = count_xlsx_cells(archive)
        except Exception:  # a damaged member: the reader refuses it with its own reason
            cells = 0
        check_cell_count(path, cells)
        return read_xlsx_grid
    if "word/document.xml" in names:
        return read_docx_grid
    raise ReportRefused(path, "the file is a zip archive but neither an Excel workbook nor a Word document")


def _looks_like_html(data: bytes) -> bool:
    head = data[:4096].lower()
    return b"<table" in head or b"<html" in head or b"<!doctype html" in head


def _delimited_reader(path: Path, data: bytes) -> Reader:
    """Tab-separated text unless the file is a .csv or has commas and no tabs."""
    sample = data[:8192]
    if path.suffix.lower() == ".csv":
        return read_csv_grid
    if b"\t" not in sample and sample.count(b",") > sample.count(b"\n"):
        return read_csv_grid
    return read_text_grid


def choose_reader(path: Path, data: bytes) -> Reader:
    """The reader for a file, by magic bytes, then markup, then extension; refuses what it cannot read."""
    suffix = path.suffix.lower()
    if data.startswith(ZIP_MAGIC):
        return _zip_reader(path, data)
    if data.startswith(OLE_MAGIC):
        return read_xls_grid
    if suffix in {".xlsx", ".xls", ".docx"}:
        raise ReportRefused(
            path,
            f"the file is named {suffix} but is not a {'Word document' if suffix == '.docx' else 'workbook'} "
            "(damaged, truncated or renamed); re-save it from the program that made it",
        )
    if suffix not in TEXT_SUFFIXES:
        raise ReportRefused(path, f"duban does not read '{suffix}' files; it reads {SUPPORTED}")
    if _looks_like_html(data):
        return read_html_grid
    return _delimited_reader(path, data)
