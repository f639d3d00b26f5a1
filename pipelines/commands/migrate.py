"""`duban migrate --check`: what the next build would migrate or re-derive."""

from __future__ import annotations

import sys

from pipelines.commands.output import say, warehouse_target
from pipelines.errors import DubanError
from pipelines.migrate import SCHEMA_VERSION
from pipelines.plan import migrations_due, stale_reports
from pipelines.version import pipeline_version


def migrate_check(warehouse: str | None) -> int:
    """Say what the next build would do to the warehouse's schema and derived rows; exit 0 if nothing, 1 if something."""
    path = warehouse_target(warehouse)
    if not path.exists():
        say(f"duban migrate: no warehouse at {path}; `duban build` creates one with schema {SCHEMA_VERSION}")
        return 0
    try:
        if not path.is_lake:
            path.check_readable()  # an empty, foreign or held file: one line, not a traceback
        steps = migrations_due(path)
    except DubanError as error:
        print(f"duban migrate: {error}", file=sys.stderr)
        return 2
    stale = stale_reports(path)
    for step in steps:
        say(f"duban migrate: would migrate {step}")
    if stale:
        say(f"duban migrate: would re-derive {stale} report(s) derived by another version of duban's code (now {pipeline_version()})")
    if not steps and not stale:
        say(f"duban migrate: {path} is current (schema {SCHEMA_VERSION}, pipeline {pipeline_version()})")
        return 0
    return 1


