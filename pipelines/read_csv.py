"""Reader for CSV files: quoted cells may hold commas, quotes and line breaks."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl

from pipelines.decode import decode_report_bytes
from pipelines.errors import ReportRefused
from pipelines.grid import grid_from_rows


def _delimiter(sample: str) -> str:
    """The sample's delimiter. Only that is sniffed: the sniffer guesses "no doubled quotes" from a sample
    without any, and a later Excel cell such as "a ""b"" c" would then lose its closing quote."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;").delimiter
    except csv.Error:
        return ","


def read_csv_grid(path: Path, data: bytes) -> tuple[pl.DataFrame, str]:
    """Read a CSV report into a grid; each row's line_no is the physical line where it starts."""
    text, encoding = decode_report_bytes(data, path)
    # no cell can be longer than the file (the default limit, 131,072 characters, fails on long progress texts)
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    # strict: a stray quote is an error, not a cell that silently swallows the following rows or loses its quotes
    reader = csv.reader(io.StringIO(text, newline=""), csv.excel, delimiter=_delimiter(text[:8192]), strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            rows.append((start, [c.replace("\r\n", "\n") for c in cells]))
            start = reader.line_num + 1
    except csv.Error as error:
        raise ReportRefused(
            path,
            f"the CSV row starting on line {start} has a stray quote mark ({error}); a cell holding quotes "
            'must be quoted as a whole with its quotes doubled ("a ""b"" c"), as Excel saves it',
        ) from None
    return grid_from_rows(rows), encoding
