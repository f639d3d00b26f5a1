"""The per-report summary `duban build` prints: publisher, period, records read, accepted, quarantined."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import duckdb


def display_width(text: str) -> int:
    """Columns a string takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def format_table(header: list[str], rows: list[list[object]]) -> str:
    """A plain aligned text table that keeps CJK text in line."""
    cells = [[("" if v is None else str(v)) for v in row] for row in [header, *rows]]
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(v + " " * (w - display_width(v)) for v, w in zip(row, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report_rows(warehouse: Path, periods: list[str]) -> list[dict]:
    """Every dim_report row of the given periods (one row per file), read-only."""
    if not periods or not warehouse.exists():
        return []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(
            """SELECT source_file, publisher, period_key, records_read, accepted, quarantined, status, error
               FROM dim_report WHERE period_key IN (SELECT unnest(?::VARCHAR[]))
               ORDER BY period_key, publisher, source_file""",
            [periods],
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
