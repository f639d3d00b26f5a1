"""Reader for CSV files: quoted cells may hold commas, quotes and line breaks."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl

from pipelines.decode import decode_report_bytes
from pipelines.grid import grid_from_rows


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        return csv.excel


def read_csv_grid(path: Path, data: bytes) -> tuple[pl.DataFrame, str]:
    """Read a CSV report into a grid; each row's line_no is the physical line where it starts."""
    text, encoding = decode_report_bytes(data, path)
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text[:8192]))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    for cells in reader:
        rows.append((start, [c.replace("\r\n", "\n") for c in cells]))
        start = reader.line_num + 1
    return grid_from_rows(rows), encoding
