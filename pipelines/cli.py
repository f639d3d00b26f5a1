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
from pipelines.instance import dagster_home, setting_up_instance
from pipelines.lock import build_lock
from pipelines.manifest import FileState, decode_states, encode_states, files_by_period, scan_raw
from pipelines.publish import work_dir, working_path
from pipelines.runs import reap_dead_runs, run_tags
from pipelines.summary import format_table, report_rows
from pipelines.working import check_published, check_working_free, open_error, verify_working


def _say(message: str) -> None:
    print(message, flush=True)


def _scan(raw_dir: Path, warehouse: Path) -> tuple[dict[str, FileState], list[str]]:
    """The state of every file under raw_dir (only changed files are read) and the refusals, as messages."""
    cache = work_dir(warehouse) / "raw-manifest"
    previous = decode_states(cache.read_text()) if cache.exists() else {}
    states, _ = scan_raw(raw_dir, previous)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(encode_states(states))
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
    """Materialize the asset graph for every period found under the raw directory; returns the exit status.

    One build at a time per warehouse: a second one waits for the first (a lock in the warehouse's .work
    folder, taken before anything is read or Dagster's instance is opened). Problems with the warehouse
    file, its folder or DAGSTER_HOME are raised as DubanError before anything is written.
    """
    from assets.resources import configured_paths

    default_raw, default_warehouse = configured_paths()
    raw_dir = Path(raw or default_raw).resolve()
    warehouse_path = Path(warehouse or default_warehouse).resolve()
    if not raw_dir.is_dir():
        _say(f"duban: raw directory {raw_dir} does not exist; create it or pass --raw DIR")
        return 2
    with build_lock(work_dir(warehouse_path), _say):
        check_published(warehouse_path)
        return _build_locked(raw_dir, warehouse_path, verbose, everything)


def _build_locked(raw_dir: Path, warehouse_path: Path, verbose: bool, everything: bool) -> int:
    from assets.definitions import BUILD_JOB, make_definitions
    from assets.partitions import period_partitions
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    _say(f"duban: reading reports under {raw_dir}")
    states, refused = _scan(raw_dir, warehouse_path)
    for message in refused:
        _say(f"  refused {message}")
    by_period = _periods_to_build(states, warehouse_path, everything)
    unchanged = sum(len(files) for files in files_by_period(states).values()) - sum(map(len, by_period.values()))
    if unchanged:
        _say(f"duban: {unchanged} report(s) already in the warehouse and unchanged")
    if by_period:
        working = working_path(warehouse_path)
        restored = verify_working(warehouse_path, working)
        if restored:
            _say(restored)
        check_working_free(working)
    with setting_up_instance() as instance:
        for run_id in reap_dead_runs(instance):
            _say(f"duban: run {run_id} of a build that died was marked failed and its warehouse slot freed")
        known = instance.get_dynamic_partitions(period_partitions.name)
        new = [key for key in by_period if key not in known]
        if new:
            instance.add_dynamic_partitions(period_partitions.name, new)
    failed_runs = []
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
                "ops": {"raw_reports": {"config": {"files": files}}},
                "loggers": {"console": {"config": {"log_level": "DEBUG" if verbose else "WARNING"}}},
            },
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last, **run_tags()},
            raise_on_error=False,
        )
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
    _say(f"\nduban: warehouse {warehouse_path}")
    problems = len(refused) + len(failed_reports) + len(failed_runs)
    if problems:
        _say(f"duban: {problems} problem(s): {len(refused)} file(s) refused, {len(failed_reports)} report(s) failed, {len(failed_runs)} run(s) failed")
        return 1
    return 0


def sql(query: str | None, file: str | None, warehouse: str | None, max_rows: int, parser) -> int:
    """Print a query's result from the published warehouse; never writes."""
    from assets.resources import configured_paths
    from pipelines.query import run_query

    if bool(query) == bool(file):
        parser.error("duban sql takes a query or --file FILE, not both and not neither")
    try:
        text = Path(file).read_text(encoding="utf-8") if file else query
    except (OSError, UnicodeDecodeError) as error:
        parser.error(f"cannot read the query file {file}: {getattr(error, 'strerror', None) or error}")
    path = Path(warehouse or configured_paths()[1]).resolve()
    try:
        _say(run_query(path, text, max_rows))
    except duckdb.Error as error:
        if isinstance(error, duckdb.IOException) and str(path) in str(error):  # the file: unreadable, or held
            raise open_error(path, error) from None
        print(f"duban sql: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 1
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


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line: what is wrong and where to find the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _row_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {count}")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="duban", description="Responsibility-target progress reports → DuckDB warehouse.")
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
    sql_cmd.add_argument("--max-rows", type=_row_count, default=200, help="rows to print at most (default 200)")
    serve_cmd = commands.add_parser("serve", help="serve the published warehouse read-only over DuckDB's Quack protocol")
    serve_cmd.add_argument("--warehouse", metavar="FILE", help="DuckDB file (default: $DUBAN_WAREHOUSE or warehouse/duban.duckdb)")
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback only)")
    serve_cmd.add_argument("--port", type=int, default=9494, help="port (default 9494)")
    serve_cmd.add_argument("--token", help="token clients must present (default: $DUBAN_TOKEN); required")
    dev_cmd = commands.add_parser("dev", help="open the Dagster UI (dagster dev) with duban's Dagster home")
    dev_cmd.add_argument("args", nargs=argparse.REMAINDER, help="passed on to dagster dev")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            return build(args.raw, args.warehouse, args.verbose, args.all)
        if args.command == "serve":
            return serve_command(args.warehouse, args.host, args.port, args.token or os.environ.get("DUBAN_TOKEN"))
        if args.command == "sql":
            return sql(args.query, args.file, args.warehouse, args.max_rows, sql_cmd)
        return dev(args.args)
    except DubanError as error:  # the warehouse, its folder or DAGSTER_HOME cannot be used: nothing was changed
        print(f"duban {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
