"""Reader for text exports: a markdown title line, then tab-separated rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.decode import decode_report_bytes


def text_to_grid(text: str) -> pl.DataFrame:
    """Split text into a grid of cells; one row per physical line (``line_no`` is 1-based)."""
    lines = pl.Series("line", [text]).str.split("\n").explode()
    return pl.DataFrame({"line": lines}).select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("line_no"),
        pl.col("line").str.strip_suffix("\r").str.split("\t").alias("cells"),
    )


def read_text_grid(path: Path, data: bytes) -> tuple[pl.DataFrame, str]:
    """Read a tab-separated text report into a grid of cells; returns (grid, encoding)."""
    text, encoding = decode_report_bytes(data, path)
    return text_to_grid(text), encoding
