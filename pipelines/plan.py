"""Which periods a build must load: those whose files differ from what the warehouse holds for them."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pipelines.manifest import FileState, files_by_period
from pipelines.sql_lists import json_list
from pipelines.targets import Target, target_for
from pipelines.version import pipeline_version

Warehouse = Path | Target


def _built(warehouse: Warehouse, only: set[str] | None = None) -> tuple[dict[str, set[tuple[str, str, int | None]]], set[str]]:
    """period → (source_file, sha256, modification time in µs) of every report the warehouse holds, any status
    (with only: of those source files); and the periods holding a report that another pipeline version derived."""
    built: dict[str, set] = defaultdict(set)
    stale: set[str] = set()
    current = pipeline_version()
    with target_for(warehouse).read() as con:
        has_version = con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'dim_report' AND column_name = 'pipeline_version'"
        ).fetchone()[0]
        version = "pipeline_version" if has_version else "NULL"
        for period_key, source_file, sha256, mtime_us, made_by in con.execute(
            f"""SELECT period_key, source_file, sha256, epoch_us(file_modified_at), {version}
                FROM dim_report WHERE period_key IS NOT NULL"""
        ).fetchall():
            if only is not None and source_file not in only:
                continue
            built[period_key].add((source_file, sha256, mtime_us))
            if made_by != current:
                stale.add(period_key)
    return built, stale


def periods_to_build(
    states: dict[str, FileState], warehouse: Warehouse, everything: bool = False, gone: list[str] = ()
) -> dict[str, list[str]]:
    """period → its current files, for every period whose files differ from the warehouse's (all with everything).

    A period differs when a file was added, changed, re-dated, moved away or removed, when the
    warehouse holds a period no file reports any more (then its file list is empty: the build removes
    it), or when another version of duban's code derived one of its reports (the build re-derives it).
    On a DuckLake shared by many builds only this folder's files are compared (other builds own the rest):
    its current files and `gone`, the files its previous scan had that are no longer there.
    """
    target = target_for(warehouse)
    by_period = files_by_period(states)
    if everything or not target.exists():
        return by_period
    built, stale = _built(target, set(states) | set(gone) if target.scoped() else None)
    wanted = {
        period: {(name, states[name].sha256, states[name].mtime_ns // 1000) for name in names}
        for period, names in by_period.items()
    }
    return {
        period: by_period.get(period, [])
        for period in sorted(set(wanted) | set(built))
        if wanted.get(period, set()) != built.get(period, set()) or period in stale
    }


def failed_reports(warehouse: Warehouse, periods: list[str], files: list[str] | None = None) -> list[tuple[str, str]]:
    """(source_file, error) of the failed reports the warehouse holds for periods that this build leaves alone
    (on a DuckLake shared by many builds: of files, this build's)."""
    target = target_for(warehouse)
    if not target.exists():
        return []
    with target.read() as con:
        found = con.execute(
            """SELECT source_file, error FROM dim_report WHERE status = 'failed'
               AND period_key NOT IN (SELECT unnest(?::JSON::VARCHAR[])) ORDER BY source_file""",
            [json_list(periods)],
        ).fetchall()
    return [row for row in found if files is None or not target.scoped() or row[0] in set(files)]


def stale_reports(warehouse: Warehouse) -> int:
    """How many reports of the warehouse another version of duban's code derived (a build re-derives them)."""
    target = target_for(warehouse)
    if not target.exists():
        return 0
    with target.read() as con:
        if not con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'dim_report' AND column_name = 'pipeline_version'"
        ).fetchone()[0]:
            return con.execute("SELECT count(*) FROM dim_report").fetchone()[0]
        return con.execute(
            "SELECT count(*) FROM dim_report WHERE pipeline_version IS DISTINCT FROM ?", [pipeline_version()]
        ).fetchone()[0]


def migrations_due(warehouse: Warehouse) -> list[str]:
    """The schema migrations the next build will run on this warehouse (raises NewerWarehouseError if it is newer)."""
    from pipelines.migrate import pending_migrations

    target = target_for(warehouse)
    if not target.exists():
        return []
    with target.read() as con:
        return pending_migrations(con)


def removed_files(states: dict[str, FileState], warehouse: Warehouse, gone: list[str] = ()) -> list[tuple[str, bool]]:
    """(source_file, whether its reports leave the warehouse) for the files the warehouse holds reports of that are
    no longer under the raw directory. On a DuckLake shared by many builds only `gone` counts (the files this
    folder's previous scan had), and a report leaves only when its publisher's period is rebuilt from the
    folder's remaining files; a publisher with no file left in the period keeps its report (builds touch
    only the publishers whose files they have)."""
    target = target_for(warehouse)
    if not target.exists():
        return []
    with target.read() as con:
        held = {name: (publisher, period) for name, publisher, period in con.execute(
            "SELECT DISTINCT source_file, publisher, period_key FROM dim_report").fetchall()}
        if not target.scoped():
            return [(name, True) for name in sorted(set(held) - set(states))]
        remaining = {held[name] for name in states if name in held}
    return [(name, held[name] in remaining) for name in sorted(set(gone) & set(held))]
