"""Cut a grid of cells into records: split side-by-side blocks, realign on anchors, quarantine ghosts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.errors import NoRecordsError
from pipelines.headers import RECORD_COLUMNS
from pipelines.layout import Layout, find_layout, long_cells

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


def _classify_lines(cells: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """One row per line: whether it is a data line or skipped (blank, preamble, header, footnote)."""
    return (
        cells.group_by("line_no")
        .agg(
            filled=(pl.col("cell") != "").sum(),
            first=pl.col("cell").filter(pl.col("cell") != "").first(),
        )
        .with_columns(
            is_data=(pl.col("line_no") > layout.header_line)
            & ~pl.col("line_no").is_in(list(layout.header_lines))
            & (pl.col("filled") > 0)
            & ~((pl.col("filled") == 1) & pl.col("first").str.contains(FOOTNOTE_PATTERN))
        )
    )


def _anchors(cells: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """One row per record start: line_no and anchor_pos.

    A record starts where a target number is followed by a leader's name. Such a pair inside the
    previous record's span is taken as a start only where that record is short and empty from its
    third cell on (a ghost), or where it sits exactly at a block start of the header.
    """
    number = pl.col("cell").str.normalize("NFKC")
    following = pl.col("cell").shift(-1).over("line_no", order_by="pos")
    filled_so_far = cells.select(
        "line_no", "pos", filled=(pl.col("cell") != "").cast(pl.Int64).cum_sum().over("line_no", order_by="pos")
    )
    candidates = (
        cells.filter(
            number.str.contains(TARGET_NO_PATTERN)
            & following.str.contains(LEADER_PATTERN).fill_null(False)
            & ~following.is_in(["是", "否"]).fill_null(False)
        )
        .select("line_no", "pos")
        .sort("line_no", "pos")
        .with_columns(previous=pl.col("pos").shift(1).over("line_no"))
    )
    between = (
        candidates.with_columns(before=pl.col("pos") - 1, after_leader=pl.col("previous") + 1)
        .join(
            filled_so_far.rename({"pos": "before", "filled": "filled_before"}),
            on=["line_no", "before"],
            how="left",
        )
        .join(
            filled_so_far.rename({"pos": "after_leader", "filled": "filled_to_leader"}),
            on=["line_no", "after_leader"],
            how="left",
        )
        .with_columns(filled_between=pl.col("filled_before") - pl.col("filled_to_leader"))
    )
    return between.filter(
        pl.col("previous").is_null()
        | (pl.col("pos") - pl.col("previous") >= layout.width)
        | (pl.col("filled_between") == 0)
        | pl.col("pos").is_in(list(layout.block_starts))
    ).select(
        "line_no",
        pl.col("pos").alias("anchor_pos"),
        pl.int_range(pl.len()).over("line_no", order_by="pos").cast(pl.Int64).alias("block"),
    )


def _assign_cells(cells: pl.DataFrame, anchors: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """Each data cell with the record it belongs to (null anchor: before any record) and its column."""
    rel_columns = pl.DataFrame(
        {"rel": range(layout.width), "column": list(layout.columns)},
        schema={"rel": pl.Int64, "column": pl.String},
    )
    return (
        cells.sort("line_no", "pos")
        .join_asof(
            anchors.sort("line_no", "anchor_pos"),
            left_on="pos",
            right_on="anchor_pos",
            by="line_no",
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(rel=pl.col("pos") - pl.col("anchor_pos"))
        .join(rel_columns, on="rel", how="left")
    )


def _records(assigned: pl.DataFrame, width: int) -> pl.DataFrame:
    """One row per anchored record, its cells pivoted to columns, with the count of stray cells."""
    anchored = assigned.filter(pl.col("anchor_pos").is_not_null())
    fields = [
        pl.col("cell").filter(pl.col("column") == name).first().fill_null("").alias(name) for name in RECORD_COLUMNS
    ]
    return (
        anchored.group_by("line_no", "anchor_pos", "block")
        .agg(
            *fields,
            stray_cells=((pl.col("rel") >= width) & (pl.col("cell") != "")).sum(),
            raw_cells=pl.col("raw").sort_by("pos"),
        )
        .with_columns(
            raw_cells=pl.col("raw_cells").list.eval(
                pl.element().slice(0, pl.element().str.strip_chars().ne("").arg_true().max().fill_null(-1) + 1)
            )
        )
        .sort("line_no", "anchor_pos")
    )


def _unanchored(assigned: pl.DataFrame) -> pl.DataFrame:
    """Quarantine rows for cells that belong to no record (no number and leader before them)."""
    stray = assigned.filter(pl.col("anchor_pos").is_null())
    return (
        stray.group_by("line_no")
        .agg(filled=(pl.col("cell") != "").sum(), raw_cells=pl.col("raw").sort_by("pos"))
        .filter(pl.col("filled") > 0)
        .select(
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
    peers = with_flags.filter(pl.col("usable")).with_columns(
        versions=pl.col("signature").n_unique().over("number"),
        lines=pl.col("line_no").unique().sort().cast(pl.String).str.join(", ").over("number"),
        first_line=pl.col("line_no").min().over(["number", "signature"]),
        repeat=pl.int_range(pl.len()).over(["number", "signature"], order_by=["line_no", "anchor_pos"]),
    )
    with_peers = with_flags.join(
        peers.select("line_no", "anchor_pos", "versions", "lines", "first_line", "repeat"),
        on=["line_no", "anchor_pos"],
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


def reshape_grid(grid: pl.DataFrame, path: Path | str) -> Reshaped:
    """Turn a report's grid into one row per record (kept) and one row per rejected record, with reasons."""
    cells = long_cells(grid)
    layout = find_layout(cells, path)
    lines = _classify_lines(cells, layout)
    data_lines = lines.filter(pl.col("is_data")).select("line_no")
    if data_lines.is_empty():
        raise NoRecordsError(
            path, f"the table has a header (line {layout.header_line}) but no records under it; is the file complete?"
        )
    data_cells = cells.join(data_lines, on="line_no", how="semi")
    anchors = _anchors(data_cells, layout)
    assigned = _assign_cells(data_cells, anchors, layout)
    judged = _rejections(_records(assigned, layout.width))
    kept = judged.filter(pl.col("reason").is_null()).select(
        pl.col("line_no").alias("source_line"), "block", *RECORD_COLUMNS, "raw_cells"
    )
    rejected = judged.filter(pl.col("reason").is_not_null()).select(
        pl.col("line_no").alias("source_line"),
        pl.col("target_no").alias("target_no_text"),
        "reason",
        pl.lit(None, pl.String).alias("column_name"),
        pl.lit(None, pl.String).alias("check_name"),
        pl.lit(None, pl.String).alias("failure_value"),
        "raw_cells",
    )
    quarantine = pl.concat([rejected, _unanchored(assigned)]).sort("source_line").cast(QUARANTINE_COLUMNS)
    skipped = lines.filter(~pl.col("is_data")).height
    return Reshaped(records=kept, quarantine=quarantine, skipped_lines=skipped, layout=layout)
