"""The grid of cells every reader produces: one row per source line, the cells of that line as text."""

from __future__ import annotations

import polars as pl

GRID_SCHEMA = {"line_no": pl.Int64, "cells": pl.List(pl.String)}


def grid_from_rows(rows: list[tuple[int, list[str]]]) -> pl.DataFrame:
    """A grid from (1-based source line, cells) pairs, in source order."""
    return pl.DataFrame(
        {"line_no": [line for line, _ in rows], "cells": [cells for _, cells in rows]}, schema=GRID_SCHEMA
    )


def cell_text(value: object) -> str:
    """A cell's value as the text a reader of the printed table sees (53.0 → "53", None → "")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") or len(text) == 10 else text
    return str(value).replace("\r\n", "\n").replace("\r", "\n")
