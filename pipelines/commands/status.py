"""`duban status`: what the published warehouse holds, read-only."""

from __future__ import annotations

import json
import sys

import duckdb

from pipelines.commands.output import say, warehouse_target
from pipelines.migrate import SCHEMA_VERSION, schema_version
from pipelines.working import open_error


def status_command(warehouse: str | None, as_json: bool) -> int:
    """What the published warehouse holds: periods, publishers, last build, failed and superseded files, quarantine."""
    from pipelines.status import format_status, warehouse_status

    path = warehouse_target(warehouse)
    if not path.exists():
        print(f"duban status: no warehouse at {path}; `duban build` creates it", file=sys.stderr)
        return 1
    try:
        with path.read() as con:
            version = schema_version(con)
        if version is not None and version < SCHEMA_VERSION:
            print(
                f"duban status: {path} was written by an older duban (schema {version}, now {SCHEMA_VERSION}); "
                "`duban build` migrates it and keeps every fact (`duban migrate --check` says what it would do)",
                file=sys.stderr,
            )
            return 1
        held = warehouse_status(path)
    except duckdb.Error as error:
        raise open_error(path.published if not path.is_lake else path.label, error) from None
    if as_json:
        print(json.dumps(held, ensure_ascii=False, indent=1, default=str))
    else:
        say(format_status(held))
    return 0


