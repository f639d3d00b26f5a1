"""`duban report`: the quarterly briefing as HTML (and PDF) from the published warehouse."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from pipelines.commands.output import say, warehouse_target
from pipelines.working import open_error


def report(warehouse: str | None, publisher: str | None, period: str | None, out: str | None, pdf: bool) -> int:
    """Write the quarterly briefing (HTML, and PDF with --pdf) from the published warehouse."""
    from pipelines.briefing import write_briefings

    path = warehouse_target(warehouse)
    try:
        written = write_briefings(path, publisher, period, Path(out).resolve() if out else None, pdf)
    except duckdb.Error as error:
        if not path.is_lake and isinstance(error, duckdb.IOException) and str(path) in str(error):  # the file: unreadable, or held
            raise open_error(path.published, error) from None
        print(f"duban report: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    if not written:
        print(f"duban report: no facts in {path} for {publisher or 'any publisher'} {period or ''}".rstrip(), file=sys.stderr)
        return 1
    for briefing, page in written:
        say(f"{briefing.publisher} {briefing.period_key}: {page}" + (f" and {page.with_suffix('.pdf').name}" if pdf else ""))
    return 0


