"""Cut a grid of cells into records: split side-by-side blocks, realign on anchors, quarantine ghosts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.errors import NoRecordsError, ReportRefused
from pipelines.headers import RECORD_COLUMNS
from pipelines.layout import Layout, cells_of_grids, find_layouts

# A record starts with its target number (of any length) followed by the leader's name.
TARGET_NO_PATTERN = r"^\d+(?:[-‐－]\d{1,3})?$"
LEADER_PATTERN = r"^[\p{Han}][\p{Han}·・]{1,5}$"
FOOTNOTE_PATTERN = r"^(?:注|备注|说明|附)\s*[:：]?"

QUARANTINE_COLUMNS = {
    "source_line": pl.Int64,
    "target_no_text": pl.String,
    "reason": pl.String,
    "column_name": pl.String,
    "check_name": pl.String,
    "failure_value": pl.String,
    "raw_cells": pl.List(pl.String),
}


@dataclass
class Reshaped:
    """The records found in one report, the records quarantined, and the lines that held neither."""

    records: pl.DataFrame
    quarantine: pl.DataFrame
    skipped_lines: int
    layout: Layout

    @property
    def records_read(self) -> int:
        return self.records.height + self.quarantine.height


def empty_quarantine() -> pl.DataFrame:
    """A quarantine frame with no rows: one row per rejected record, with its reason."""
    return pl.DataFrame(schema=QUARANTINE_COLUMNS)


def _layout_frames(layouts: dict[int, Layout]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Each report's layout as frames to join on: (report, header_line, width), its header lines, block starts and columns."""
    reports = list(layouts)
    shape = pl.DataFrame(
        {
            "report": reports,
            "header_line": [layouts[r].header_line for r in reports],
            "width": [layouts[r].width for r in reports],
        },
        schema={"report": pl.Int64, "header_line": pl.Int64, "width": pl.Int64},
    )
    header_lines = pl.DataFrame(
        [(r, line) for r in reports for line in layouts[r].header_lines],
        schema={"report": pl.Int64, "line_no": pl.Int64},
        orient="row",
    ).with_columns(is_header=pl.lit(True))
    block_starts = pl.DataFrame(
        [(r, pos) for r in reports for pos in layouts[r].block_starts],
        schema={"report": pl.Int64, "pos": pl.Int64},
        orient="row",
    ).with_columns(block_start=pl.lit(True))
    columns = pl.DataFrame(
        [(r, rel, name) for r in reports for rel, name in enumerate(layouts[r].columns)],
        schema={"report": pl.Int64, "rel": pl.Int64, "column": pl.String},
        orient="row",
    )
    return shape, header_lines, block_starts, columns


def _classify_lines(cells: pl.DataFrame, shape: pl.DataFrame, header_lines: pl.DataFrame) -> pl.DataFrame:
    """One row per report and line: whether it is a data line or skipped (blank, preamble, header, footnote)."""
    return (
        cells.group_by("report", "line_no")
        .agg(
            filled=(pl.col("cell") != "").sum(),
            first=pl.col("cell").filter(pl.col("cell") != "").first(),
        )
        .join(shape, on="report")
        .join(header_lines, on=["report", "line_no"], how="left")
        .with_columns(
            is_data=(pl.col("line_no") > pl.col("header_line"))
            & pl.col("is_header").is_null()
            & (pl.col("filled") > 0)
            & ~((pl.col("filled") == 1) & pl.col("first").str.contains(FOOTNOTE_PATTERN))
        )
    )


def _anchors(cells: pl.DataFrame, block_starts: pl.DataFrame) -> pl.DataFrame:
    """One row per record start: report, line_no, anchor_pos and block (cells carry their report's width).

    A record starts where a target number is followed by a leader's name. Such a pair inside the
    previous record's span is taken as a start only where that record is short and empty from its
    third cell on (a ghost), or where it sits exactly at a block start of the header.
    """
    line = ["report", "line_no"]
    number = pl.col("cell").str.normalize("NFKC")
    following = pl.col("cell").shift(-1).over(line, order_by="pos")
    filled_so_far = cells.select(
        *line, "pos", filled=(pl.col("cell") != "").cast(pl.Int64).cum_sum().over(line, order_by="pos")
    )
    candidates = (
        cells.filter(
            number.str.contains(TARGET_NO_PATTERN)
            & following.str.contains(LEADER_PATTERN).fill_null(False)
            & ~following.is_in(["是", "否"]).fill_null(False)
        )
        .select(*line, "pos", "width")
        .sort(*line, "pos")
        .with_columns(previous=pl.col("pos").shift(1).over(line))
    )
    between = (
        candidates.with_columns(before=pl.col("pos") - 1, after_leader=pl.col("previous") + 1)
        .join(
            filled_so_far.rename({"pos": "before", "filled": "filled_before"}),
            on=[*line, "before"],
            how="left",
        )
        .join(
            filled_so_far.rename({"pos": "after_leader", "filled": "filled_to_leader"}),
            on=[*line, "after_leader"],
            how="left",
        )
        .join(block_starts, on=["report", "pos"], how="left")
        .with_columns(filled_between=pl.col("filled_before") - pl.col("filled_to_leader"))
    )
    return between.filter(
        pl.col("previous").is_null()
        | (pl.col("pos") - pl.col("previous") >= pl.col("width"))
        | (pl.col("filled_between") == 0)
        | pl.col("block_start").fill_null(False)
    ).select(
        *line,
        pl.col("pos").alias("anchor_pos"),
        pl.int_range(pl.len()).over(line, order_by="pos").cast(pl.Int64).alias("block"),
    )


def _assign_cells(cells: pl.DataFrame, anchors: pl.DataFrame, columns: pl.DataFrame) -> pl.DataFrame:
    """Each data cell with the record it belongs to (null anchor: before any record) and its column."""
    return (
        cells.sort("report", "line_no", "pos")
        .join_asof(
            anchors.sort("report", "line_no", "anchor_pos"),
            left_on="pos",
            right_on="anchor_pos",
            by=["report", "line_no"],
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(rel=pl.col("pos") - pl.col("anchor_pos"))
        .join(columns, on=["report", "rel"], how="left")
    )


def _records(assigned: pl.DataFrame) -> pl.DataFrame:
    """One row per anchored record, its cells pivoted to columns, with the count of stray cells."""
    anchored = assigned.filter(pl.col("anchor_pos").is_not_null())
    fields = [
        pl.col("cell").filter(pl.col("column") == name).first().fill_null("").alias(name) for name in RECORD_COLUMNS
    ]
    return (
        anchored.group_by("report", "line_no", "anchor_pos", "block")
        .agg(
            *fields,
            stray_cells=((pl.col("rel") >= pl.col("width")) & (pl.col("cell") != "")).sum(),
            raw_cells=pl.col("raw").sort_by("pos"),
        )
        .with_columns(
            raw_cells=pl.col("raw_cells").list.eval(
                pl.element().slice(0, pl.element().str.strip_chars().ne("").arg_true().max().fill_null(-1) + 1)
            )
        )
        .sort("report", "line_no", "anchor_pos")
    )


def _unanchored(assigned: pl.DataFrame) -> pl.DataFrame:
    """Quarantine rows for cells that belong to no record (no number and leader before them)."""
    stray = assigned.filter(pl.col("anchor_pos").is_null())
    return (
        stray.group_by("report", "line_no")
        .agg(filled=(pl.col("cell") != "").sum(), raw_cells=pl.col("raw").sort_by("pos"))
        .filter(pl.col("filled") > 0)
        .select(
            "report",
            pl.col("line_no").alias("source_line"),
            pl.lit(None, pl.String).alias("target_no_text"),
            pl.lit("cells outside any record: no target number followed by a leader's name before them").alias(
                "reason"
            ),
            pl.lit(None, pl.String).alias("column_name"),
            pl.lit(None, pl.String).alias("check_name"),
            pl.lit(None, pl.String).alias("failure_value"),
            "raw_cells",
        )
    )


def _rejections(records: pl.DataFrame) -> pl.DataFrame:
    """Records with the reason each is rejected (null when it is kept): ghosts, stray cells, duplicates."""
    content = ["target_text", "deadline_text", "progress_text", "on_schedule_text", "departments_text"]
    number = pl.col("target_no").str.normalize("NFKC")
    is_ghost = pl.all_horizontal([pl.col(c) == "" for c in content])
    signature = pl.concat_str([pl.col(c) for c in ("leader_name", *content)], separator="\x1f")
    usable = ~is_ghost & (pl.col("stray_cells") == 0)
    with_flags = records.with_columns(
        is_ghost=is_ghost,
        usable=usable,
        number=number,
        signature=signature,
    )
    same_number, same_record = ["report", "number"], ["report", "number", "signature"]
    peers = with_flags.filter(pl.col("usable")).with_columns(
        versions=pl.col("signature").n_unique().over(same_number),
        lines=pl.col("line_no").unique().sort().cast(pl.String).str.join(", ").over(same_number),
        first_line=pl.col("line_no").min().over(same_record),
        repeat=pl.int_range(pl.len()).over(same_record, order_by=["line_no", "anchor_pos"]),
    )
    with_peers = with_flags.join(
        peers.select("report", "line_no", "anchor_pos", "versions", "lines", "first_line", "repeat"),
        on=["report", "line_no", "anchor_pos"],
        how="left",
    )
    return with_peers.with_columns(
        reason=pl.when(pl.col("is_ghost"))
        .then(pl.lit("ghost record: only a target number and a leader's name, no target, progress or status"))
        .when(pl.col("stray_cells") > 0)
        .then(pl.format("{} cells beyond the record's columns; the row may be misaligned", pl.col("stray_cells")))
        .when(pl.col("versions") > 1)
        .then(
            pl.format(
                "target number {} appears on lines {} with different content; none of them is loaded",
                pl.col("number"),
                pl.col("lines"),
            )
        )
        .when(pl.col("repeat") > 0)
        .then(pl.format("exact duplicate of the record on line {}", pl.col("first_line")))
        .otherwise(None)
    )


@dataclass
class ReshapedBatch:
    """Several reports reshaped together: records and quarantine rows keyed by report, and the reports refused."""

    records: pl.DataFrame  # report, source_line, block, the record columns, raw_cells
    quarantine: pl.DataFrame  # report and QUARANTINE_COLUMNS
    skipped_lines: dict[int, int]
    layouts: dict[int, Layout]
    refused: dict[int, ReportRefused]

    def report(self, index: int) -> Reshaped:
        """One report's part of the batch; raises its refusal if it was refused."""
        if index in self.refused:
            raise self.refused[index]
        mine = pl.col("report") == index
        return Reshaped(
            records=self.records.filter(mine).drop("report"),
            quarantine=self.quarantine.filter(mine).drop("report"),
            skipped_lines=self.skipped_lines.get(index, 0),
            layout=self.layouts[index],
        )


def reshape_grids(grids: list[pl.DataFrame], paths: list[Path | str]) -> ReshapedBatch:
    """Turn the grids of several reports into one row per kept record and one per rejected record, keyed by report (the grid's index)."""
    cells = cells_of_grids(grids)
    layouts, refused = find_layouts(cells, paths)
    shape, header_lines, block_starts, columns = _layout_frames(layouts)
    cells = cells.join(shape.select("report", "width"), on="report")
    lines = _classify_lines(cells, shape, header_lines)
    data_lines = lines.filter(pl.col("is_data")).select("report", "line_no")
    for report in sorted(set(layouts) - set(data_lines["report"].unique().to_list())):
        refused[report] = NoRecordsError(
            paths[report],
            f"the table has a header (line {layouts[report].header_line}) but no records under it; is the file complete?",
        )
    data_cells = cells.join(data_lines, on=["report", "line_no"], how="semi")
    assigned = _assign_cells(data_cells, _anchors(data_cells, block_starts), columns)
    judged = _rejections(_records(assigned))
    kept = judged.filter(pl.col("reason").is_null()).select(
        "report", pl.col("line_no").alias("source_line"), "block", *RECORD_COLUMNS, "raw_cells"
    )
    rejected = judged.filter(pl.col("reason").is_not_null()).select(
        "report",
        pl.col("line_no").alias("source_line"),
        pl.col("target_no").alias("target_no_text"),
        "reason",
        pl.lit(None, pl.String).alias("column_name"),
        pl.lit(None, pl.String).alias("check_name"),
        pl.lit(None, pl.String).alias("failure_value"),
        "raw_cells",
    )
    quarantine = (
        pl.concat([rejected, _unanchored(assigned)])
        .sort("report", "source_line", maintain_order=True)
        .cast({"report": pl.Int64, **QUARANTINE_COLUMNS})
    )
    skipped = lines.filter(~pl.col("is_data")).group_by("report").len()
    return ReshapedBatch(
        records=kept,
        quarantine=quarantine,
        skipped_lines=dict(skipped.iter_rows()),
        layouts={r: layout for r, layout in layouts.items() if r not in refused},
        refused=refused,
    )


def reshape_grid(grid: pl.DataFrame, path: Path | str) -> Reshaped:
    """Turn one report's grid into one row per record (kept) and one row per rejected record, with reasons."""
    return reshape_grids([grid], [path]).report(0)
