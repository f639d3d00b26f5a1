"""The `duban` command: build the warehouse from raw reports, or open the Dagster UI."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

import duckdb

from pipelines.errors import DubanError
from pipelines.instance import dagster_home, get_instance
from pipelines.manifest import FileState, files_by_period, load_states, save_states, scan_raw
from pipelines.publish import work_dir
from pipelines.runs import reap_dead_runs, run_tags
from pipelines.summary import format_table, report_rows


def _say(message: str) -> None:
    print(message, flush=True)


def _scan(raw_dir: Path, warehouse: Path) -> tuple[dict[str, FileState], list[str]]:
    """The state of every file under raw_dir (only changed files are read) and the refusals, as messages."""
    cache = work_dir(warehouse) / "raw-manifest"
    previous, warning = load_states(cache)
    if warning:
        _say(f"duban: {warning}")
    states, changes = scan_raw(raw_dir, previous, work_dir(warehouse) / "staging")  # staged: the run reads them once
    for name in changes.skipped:
        _say(f"  skipped {raw_dir / name}: not a report (a lock, thumbnail, backup or system file)")
    save_states(cache, states)
    refused = [f"{raw_dir / name}: {state.error}" for name, state in sorted(states.items()) if state.error]
    return states, refused


def _periods_to_build(states: dict[str, FileState], warehouse: Path, everything: bool) -> dict[str, list[str]]:
    """Periods with a file whose content the warehouse has not seen (all periods with --all), with their files."""
    by_period = files_by_period(states)
    if everything or not warehouse.exists():
        return by_period
    with duckdb.connect(str(warehouse), read_only=True) as con:
        seen = {sha for (sha,) in con.execute("SELECT sha256 FROM dim_report").fetchall()}
    return {p: files for p, files in by_period.items() if any(states[f].sha256 not in seen for f in files)}


def build(raw: str | None, warehouse: str | None, verbose: bool = False, everything: bool = False) -> int:
    """Materialize the asset graph for every period found under the raw directory; returns the exit status."""
    from assets.definitions import BUILD_JOB, make_definitions
    from assets.ingest import changed_files
    from assets.partitions import period_partitions
    from assets.resources import configured_paths
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    default_raw, default_warehouse = configured_paths()
    raw_dir = Path(raw or default_raw).resolve()
    warehouse_path = Path(warehouse or default_warehouse).resolve()
    if not raw_dir.is_dir():
        _say(f"duban: raw directory {raw_dir} does not exist; create it or pass --raw DIR")
        return 2
    _say(f"duban: reading reports under {raw_dir}")
    states, refused = _scan(raw_dir, warehouse_path)
    for message in refused:
        _say(f"  refused {message}")
    by_period = _periods_to_build(states, warehouse_path, everything)
    unchanged = sum(len(files) for files in files_by_period(states).values()) - sum(map(len, by_period.values()))
    if unchanged:
        _say(f"duban: {unchanged} report(s) already in the warehouse and unchanged")
    instance = get_instance()
    for run_id in reap_dead_runs(instance):
        _say(f"duban: run {run_id} of a build that died was marked failed and its warehouse slot freed")
    known = instance.get_dynamic_partitions(period_partitions.name)
    new = [key for key in by_period if key not in known]
    if new:
        instance.add_dynamic_partitions(period_partitions.name, new)
    failed_runs: list[str] = []
    changed: dict[str, str] = {}  # files gone or changed between the scan and the run's read
    if by_period:
        job = make_definitions(raw_dir, warehouse_path).resolve_job_def(BUILD_JOB)
        order = instance.get_dynamic_partitions(period_partitions.name)
        positions = sorted(order.index(key) for key in by_period)
        first, last = order[positions[0]], order[positions[-1]]
        files = [name for names in by_period.values() for name in names]
        _say(
            f"duban: building {len(by_period)} period(s) ({', '.join(by_period)}) from {len(files)} file(s) in one run"
        )
        result = job.execute_in_process(
            instance=instance,
            run_config={
                "ops": {"raw_reports": {"config": {"files": files, "periods_of": {f: states[f].period_key for f in files}}}},
                "loggers": {"console": {"config": {"log_level": "DEBUG" if verbose else "WARNING"}}},
            },
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last, **run_tags()},
            raise_on_error=False,
        )
        changed = changed_files(result)
        if not result.success:
            failed_runs.append(result.run_id)
            _say(f"  run {result.run_id} failed; `duban build --verbose` or `duban dev` (Dagster UI) shows its log")
    rows = report_rows(warehouse_path, [states[name].sha256 for names in by_period.values() for name in names])
    table = [
        [r["publisher"], r["period_key"], r["records_read"], r["accepted"], r["quarantined"], r["status"], r["source_file"]]
        for r in rows
    ]
    if table:
        _say("")
        _say(format_table(["publisher", "period", "read", "accepted", "quarantined", "status", "file"], table))
    failed_reports = [r for r in rows if r["status"] == "failed"]
    for r in failed_reports:
        _say(f"  failed {r['source_file']}: {r['error']}")
    for name, reason in changed.items():
        _say(f"  failed {name}: {reason}")
    _say(f"\nduban: warehouse {warehouse_path}")
    problems = len(refused) + len(failed_reports) + len(changed) + len(failed_runs)
    if problems:
        _say(f"duban: {problems} problem(s): {len(refused)} file(s) refused, {len(failed_reports) + len(changed)} report(s) failed, {len(failed_runs)} run(s) failed")
        return 1
    return 0


def sql(query: str | None, file: str | None, warehouse: str | None, max_rows: int, parser) -> int:
    """Print a query's result from the published warehouse; never writes."""
    from assets.resources import configured_paths
    from pipelines.query import run_query

    if bool(query) == bool(file):
        parser.error("duban sql takes a query or --file FILE, not both and not neither")
    text = Path(file).read_text(encoding="utf-8") if file else query
    path = Path(warehouse or configured_paths()[1]).resolve()
    try:
        _say(run_query(path, text, max_rows))
    except DubanError as error:
        print(f"duban sql: {error}", file=sys.stderr)
        return 1
    return 0


def serve_command(warehouse: str | None, host: str, port: int, token: str | None) -> int:
    """Run the Quack server until interrupted."""
    from assets.resources import configured_paths
    from pipelines.serve import serve

    path = Path(warehouse or configured_paths()[1]).resolve()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # explicit handlers: a process started in the background by a shell inherits an ignored SIGINT
        signal.signal(signum, lambda *_: stop.set())
    try:
        serve(path, host, port, token, say=_say, poll_seconds=0.5, should_stop=stop.is_set)
    except (DubanError, duckdb.Error) as error:
        print(f"duban serve: {error}", file=sys.stderr)
        return 1
    _say("duban serve: stopped")
    return 0


def dev(extra: list[str]) -> int:
    """Start `dagster dev` on this project with duban's Dagster home, so `duban build` runs show up."""
    home = dagster_home()
    dagster = shutil.which("dagster") or str(Path(sys.executable).with_name("dagster"))
    _say(f"duban: DAGSTER_HOME={home}")
    os.execv(dagster, [dagster, "dev", "-w", "workspace.yaml", *extra])
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="duban", description="Responsibility-target progress reports → DuckDB warehouse.")
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="build the warehouse from the reports in the raw directory")
    build_cmd.add_argument("--raw", metavar="DIR", help="raw reports folder (default: $DUBAN_RAW or raw/)")
    build_cmd.add_argument(
        "--warehouse", metavar="FILE", help="DuckDB file (default: $DUBAN_WAREHOUSE or warehouse/duban.duckdb)"
    )
    build_cmd.add_argument("--verbose", action="store_true", help="show Dagster's step-by-step log")
    build_cmd.add_argument(
        "--all", action="store_true", help="rebuild every period, not only those with new or changed files"
    )
    sql_cmd = commands.add_parser("sql", help="run a query read-only against the published warehouse")
    sql_cmd.add_argument("query", nargs="?", help="the SQL to run (or use --file)")
    sql_cmd.add_argument("--file", "-f", metavar="FILE", help="read the SQL from FILE, e.g. warehouse/queries/stale_reports.sql")
    sql_cmd.add_argument("--warehouse", metavar="FILE", help="DuckDB file (default: $DUBAN_WAREHOUSE or warehouse/duban.duckdb)")
    sql_cmd.add_argument("--max-rows", type=int, default=200, help="rows to print at most (default 200)")
    serve_cmd = commands.add_parser("serve", help="serve the published warehouse read-only over DuckDB's Quack protocol")
    serve_cmd.add_argument("--warehouse", metavar="FILE", help="DuckDB file (default: $DUBAN_WAREHOUSE or warehouse/duban.duckdb)")
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback only)")
    serve_cmd.add_argument("--port", type=int, default=9494, help="port (default 9494)")
    serve_cmd.add_argument("--token", help="token clients must present (default: $DUBAN_TOKEN); required")
    dev_cmd = commands.add_parser("dev", help="open the Dagster UI (dagster dev) with duban's Dagster home")
    dev_cmd.add_argument("args", nargs=argparse.REMAINDER, help="passed on to dagster dev")
    args = parser.parse_args(argv)
    if args.command == "build":
        return build(args.raw, args.warehouse, args.verbose, args.all)
    if args.command == "serve":
        return serve_command(args.warehouse, args.host, args.port, args.token or os.environ.get("DUBAN_TOKEN"))
    if args.command == "sql":
        return sql(args.query, args.file, args.warehouse, args.max_rows, parser)
    return dev(args.args)


if __name__ == "__main__":
    sys.exit(main())
