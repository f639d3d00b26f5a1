"""`duban sql`: one read-only query against the published warehouse."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from pipelines.commands.output import say, warehouse_target
from pipelines.errors import DubanError, WarehouseLocked, WarehouseUnreadable
from pipelines.working import open_error


def sql(query: str | None, file: str | None, warehouse: str | None, max_rows: int, parser, allow_files: bool = False) -> int:
    """Print a query's result from the published warehouse; never writes."""
    from pipelines.query import run_query

    if bool(query) == bool(file):
        parser.error("duban sql takes a query or --file FILE, not both and not neither")
    try:
        text = Path(file).read_text(encoding="utf-8") if file else query
    except (OSError, UnicodeDecodeError) as error:
        parser.error(f"cannot read the query file {file}: {getattr(error, 'strerror', None) or error}")
    path = warehouse_target(warehouse)
    try:
        say(run_query(path, text, max_rows, allow_files))
    except duckdb.Error as error:
        if not path.is_lake and isinstance(error, duckdb.IOException) and str(path) in str(error):  # the file: unreadable, or held
            raise open_error(path.published, error) from None
        print(f"duban sql: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    except (WarehouseLocked, WarehouseUnreadable):
        raise  # the warehouse itself cannot be used: one line and exit status 2, as for build
    except DubanError as error:
        print(f"duban sql: {error}", file=sys.stderr)
        return 1
    return 0


