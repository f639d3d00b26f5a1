"""Which periods a build must load: those whose files differ from what the warehouse holds for them."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import duckdb

from pipelines.manifest import FileState, files_by_period
from pipelines.version import pipeline_version


def _built(warehouse: Path) -> tuple[dict[str, set[tuple[str, str, int | None]]], set[str]]:
    """period → (source_file, sha256, modification time in µs) of every report the warehouse holds, any status;
    and the periods holding a report that another pipeline version derived."""
    built: dict[str, set] = defaultdict(set)
    stale: set[str] = set()
    current = pipeline_version()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        has_version = con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'dim_report' AND column_name = 'pipeline_version'"
        ).fetchone()[0]
        version = "pipeline_version" if has_version else "NULL"
        for period_key, source_file, sha256, mtime_us, made_by in con.execute(
            f"""SELECT period_key, source_file, sha256, epoch_us(file_modified_at), {version}
                FROM dim_report WHERE period_key IS NOT NULL"""
        ).fetchall():
            built[period_key].add((source_file, sha256, mtime_us))
            if made_by != current:
                stale.add(period_key)
    return built, stale


def periods_to_build(states: dict[str, FileState], warehouse: Path, everything: bool = False) -> dict[str, list[str]]:
    """period → its current files, for every period whose files differ from the warehouse's (all with everything).

    A period differs when a file was added, changed, re-dated, moved away or removed, when the
    warehouse holds a period no file reports any more (then its file list is empty: the build removes
    it), or when another version of duban's code derived one of its reports (the build re-derives it).
    """
    by_period = files_by_period(states)
    if everything or not warehouse.exists():
        return by_period
    built, stale = _built(warehouse)
    wanted = {
        period: {(name, states[name].sha256, states[name].mtime_ns // 1000) for name in names}
        for period, names in by_period.items()
    }
    return {
        period: by_period.get(period, [])
        for period in sorted(set(wanted) | set(built))
        if wanted.get(period, set()) != built.get(period, set()) or period in stale
    }


def failed_reports(warehouse: Path, periods: list[str]) -> list[tuple[str, str]]:
    """(source_file, error) of the failed reports the warehouse holds for periods that this build leaves alone."""
    if not warehouse.exists():
        return []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            """SELECT source_file, error FROM dim_report WHERE status = 'failed'
               AND period_key NOT IN (SELECT unnest(?::VARCHAR[])) ORDER BY source_file""",
            [periods],
        ).fetchall()


def stale_reports(warehouse: Path) -> int:
    """How many reports of the warehouse another version of duban's code derived (a build re-derives them)."""
    if not warehouse.exists():
        return 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        if not con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'dim_report' AND column_name = 'pipeline_version'"
        ).fetchone()[0]:
            return con.execute("SELECT count(*) FROM dim_report").fetchone()[0]
        return con.execute(
            "SELECT count(*) FROM dim_report WHERE pipeline_version IS DISTINCT FROM ?", [pipeline_version()]
        ).fetchone()[0]


def migrations_due(warehouse: Path) -> list[str]:
    """The schema migrations the next build will run on this warehouse (raises NewerWarehouseError if it is newer)."""
    from pipelines.migrate import pending_migrations

    if not warehouse.exists():
        return []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return pending_migrations(con)


def removed_files(states: dict[str, FileState], warehouse: Path) -> list[str]:
    """Files the warehouse holds reports of that are no longer under the raw directory."""
    if not warehouse.exists():
        return []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        held = {name for (name,) in con.execute("SELECT DISTINCT source_file FROM dim_report").fetchall()}
    return sorted(held - set(states))
