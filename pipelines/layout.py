"""Find the header row of a grid and the side-by-side record blocks it describes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.errors import ReportRefused, UnknownHeaderError
from pipelines.frames import keyed_concat
from pipelines.grid import GRID_SCHEMA
from pipelines.headers import RECORD_COLUMNS, header_column_expr

# A row is a header when it names at least this many known columns, 序号 among them.
MIN_HEADER_COLUMNS = 4
EXPECTED_HEADER = ("序号", "市政府领导", "责任目标内容", "完成时限", "完成情况", "是否完成计划进度", "责任单位")


@dataclass(frozen=True)
class Layout:
    """Where the header is and how the records sit in each row."""

    header_line: int
    block_starts: tuple[int, ...]
    width: int
    columns: tuple[str | None, ...]  # column name at each position inside a block
    header_lines: tuple[int, ...]  # the first header and any repeats of it


def long_cells(grid: pl.DataFrame) -> pl.DataFrame:
    """One row per cell of the grid: line_no, pos (0-based), raw text and trimmed text."""
    return (
        grid.with_columns(pos=pl.int_ranges(pl.col("cells").list.len(), dtype=pl.Int64))
        .explode(["cells", "pos"])
        .rename({"cells": "raw"})
        .with_columns(raw=pl.col("raw").fill_null(""))
        .with_columns(cell=pl.col("raw").str.strip_chars())
    )


def _column_names(cells: list[str], cell_chars: int = 40, total_chars: int = 300) -> str:
    """The row's non-empty cells as a short quote: long cells and long rows are cut (…), so a message stays a line."""
    shown = [c if len(c) <= cell_chars else c[:cell_chars] + "…" for c in cells if c]
    text = "、".join(shown)
    return (text if len(text) <= total_chars else text[:total_chars] + "…") if shown else "(an empty row)"


def cells_of_grids(grids: list[pl.DataFrame]) -> pl.DataFrame:
    """One row per cell of several grids: report (the grid's index), line_no, pos, raw and trimmed text."""
    reports = pl.int_range(len(grids), dtype=pl.Int64, eager=True).alias("report")
    lines = keyed_concat([grid.select("line_no", "cells") for grid in grids], reports)
    return long_cells(lines.cast({**GRID_SCHEMA, "report": pl.Int64}))


def _layout_of_header(path: Path | str, header_line: int, names: list[str | None], texts: list[str], header_lines: list[int]) -> Layout:
    """A report's layout from its header row's column names; refuse blocks that lack columns or disagree."""
    expected = "、".join(EXPECTED_HEADER)
    starts = [pos for pos, name in enumerate(names) if name == "target_no"]
    spans = [b - a for a, b in zip(starts, starts[1:])] or [len(names) - starts[0]]
    width = min(spans)
    blocks = [tuple(names[s : s + width]) for s in starts]
    for index, block in enumerate(blocks):
        missing = [c for c in RECORD_COLUMNS if c not in block]
        if missing:
            raise UnknownHeaderError(
                path,
                f"the header on line {header_line} lacks {', '.join(missing)} in record block {index + 1}; "
                f"expected the columns {expected}; found: {_column_names(texts[starts[index] : starts[index] + width])}",
            )
    if any(block != blocks[0] for block in blocks[1:]):
        described = " | ".join(_column_names(texts[s : s + width]) for s in starts)
        raise ReportRefused(
            path,
            f"the side-by-side blocks of the header on line {header_line} list their columns in different "
            f"orders ({described}); re-export the table with one header order",
        )
    return Layout(
        header_line=header_line,
        block_starts=tuple(starts),
        width=width,
        columns=blocks[0],
        header_lines=tuple(header_lines),
    )


def _no_header(named: pl.DataFrame, per_line: pl.DataFrame, path: Path | str) -> UnknownHeaderError:
    """The refusal of a report without a header row, quoting the row closest to one."""
    closest = per_line.sort(["known", "filled", "line_no"], descending=[True, True, False]).head(1)
    if closest.is_empty():
        return UnknownHeaderError(path, "the file is empty: it has no header row and no records")
    line = closest["line_no"][0]
    found = named.filter(pl.col("line_no") == line).sort("pos")["cell"].to_list()
    return UnknownHeaderError(
        path,
        f"no header row found; expected the columns {'、'.join(EXPECTED_HEADER)} (or a synonym listed in "
        f"schemas/header_synonyms.toml); the closest row, line {line}, has: {_column_names(found)}",
    )


def find_layouts(cells: pl.DataFrame, paths: list[Path | str]) -> tuple[dict[int, Layout], dict[int, ReportRefused]]:
    """Each report's header row, blocks and columns (cells keyed by report); a refusal for each report without a usable one."""
    named = cells.with_columns(column=header_column_expr(pl.col("cell")))
    per_line = named.group_by("report", "line_no").agg(
        known=pl.col("column").drop_nulls().n_unique(),
        filled=(pl.col("cell") != "").sum(),
        has_number=(pl.col("column") == "target_no").any(),
    )
    header_lines = (
        per_line.filter(pl.col("has_number") & (pl.col("known") >= MIN_HEADER_COLUMNS))
        .group_by("report")
        .agg(pl.col("line_no").sort())
        .with_columns(header_line=pl.col("line_no").list.first())
    )
    rows = (
        named.join(header_lines.select("report", pl.col("header_line").alias("line_no")), on=["report", "line_no"], how="semi")
        .sort("report", "pos")
        .group_by("report", maintain_order=True)
        .agg(names=pl.col("column"), texts=pl.col("cell"))
        .join(header_lines, on="report")
    )
    layouts: dict[int, Layout] = {}
    refused: dict[int, ReportRefused] = {}
    for report, names, texts, lines, header_line in rows.select("report", "names", "texts", "line_no", "header_line").iter_rows():
        try:
            layouts[report] = _layout_of_header(paths[report], header_line, names, texts, lines)
        except ReportRefused as error:
            refused[report] = error
    for report in sorted(set(range(len(paths))) - set(layouts) - set(refused)):
        refused[report] = _no_header(
            named.filter(pl.col("report") == report), per_line.filter(pl.col("report") == report), paths[report]
        )
    return layouts, refused


def find_layout(cells: pl.DataFrame, path: Path | str) -> Layout:
    """Locate the header row, its blocks and their columns in one report's cells; refuse a report with no usable header."""
    layouts, refused = find_layouts(cells.with_columns(report=pl.lit(0, pl.Int64)), [path])
    if refused:
        raise refused[0]
    return layouts[0]
