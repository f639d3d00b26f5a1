"""The title is looked for among the first one-text lines above the table, however the text file is spread out."""

from __future__ import annotations

import polars as pl

from pipelines.read_text import text_to_grid
from pipelines.reports import TITLE_LINES, title_candidates, title_of


def _grid(rows: list[list[str | None] | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"line_no": range(1, len(rows) + 1), "cells": rows}, schema={"line_no": pl.Int64, "cells": pl.List(pl.String)}
    )


def test_a_title_below_hundreds_of_blank_lines_is_found() -> None:
    text = "\t\t\n" * 300 + "# 菏泽市人民政府2021年第一季度责任目标完成情况\n序号\t目标\n1\t修路\n"
    assert title_of(text_to_grid(text)) == "菏泽市人民政府2021年第一季度责任目标完成情况"


def test_only_the_first_one_text_lines_count_and_the_table_ends_them() -> None:
    lines = [[f"说明{i}"] for i in range(TITLE_LINES + 3)]
    assert title_candidates(_grid(lines)) == [f"说明{i}" for i in range(TITLE_LINES)]
    assert title_candidates(_grid([["标题"], ["序号", "目标"], ["下面"]])) == ["标题"]


def test_a_merged_title_repeated_across_cells_and_white_space_count_as_one_text() -> None:
    grid = _grid([
        None,
        [None, "\u3000", ""],
        ["\u3000标题 2021年第二季度\xa0", "标题 2021年第二季度", None],  # merged cells repeat the text
        ["#", "  "],  # a bare # is no candidate
        ["\x1c"],  # not white space to polars' strip: a line, though with no text once the title is trimmed
        ["第二行"],
        ["序号", "目标"],
    ])
    assert title_candidates(grid) == ["标题 2021年第二季度", "第二行"]
