"""`duban sql`: run one query read-only against the published warehouse and print a readable table."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb

from pipelines.errors import DubanError
from pipelines.summary import format_table


class NoWarehouseError(DubanError):
    """There is no published warehouse file at the given path yet."""


def _shown(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value).replace("\n", "⏎")


def run_query(warehouse: Path, sql: str, max_rows: int = 200) -> str:
    """The query's result as an aligned table (at most max_rows rows, then a count of the rest)."""
    if not warehouse.exists():
        raise NoWarehouseError(f"no warehouse at {warehouse}; run `duban build` first or pass --warehouse FILE")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            cursor = con.execute(sql)
        except duckdb.Error as error:
            message = str(error)
            if "read-only" in message.lower():
                message += "\n(duban sql opens the warehouse read-only; change data through `duban build`)"
            raise DubanError(message) from None
        if cursor.description is None:
            return "(no result)"
        header = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(max_rows + 1)
        rest = len(rows) - max_rows
        if rest > 0:
            rows = rows[:max_rows]
            rest += len(cursor.fetchall())
    table = format_table(header, [[_shown(v) for v in row] for row in rows])
    noun = "row" if len(rows) == 1 else "rows"
    footer = f"({len(rows)} {noun}{f', {rest} more not shown' if rest > 0 else ''})"
    return f"{table}\n{footer}"
