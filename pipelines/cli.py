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
from pipelines.manifest import FileState, files_by_period, load_states, save_states, scan_raw
from pipelines.migrate import SCHEMA_VERSION
from pipelines.plan import failed_reports, migrations_due, periods_to_build, removed_files, stale_reports
from pipelines.publish import work_dir, working_path
from pipelines.version import pipeline_version
from pipelines.runs import reap_dead_runs, run_tags
from pipelines.summary import format_table, report_rows
from pipelines.working import check_published, check_working_free, open_error, verify_working


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
    from assets.ingest import changed_files
    from assets.partitions import period_partitions
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    _say(f"duban: reading reports under {raw_dir}")
    states, refused = _scan(raw_dir, warehouse_path)
    for message in refused:
        _say(f"  refused {message}")
    by_period = periods_to_build(states, warehouse_path, everything)
    for step in migrations_due(warehouse_path):
        _say(f"duban: migrating the warehouse: {step}")
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
        order = instance.get_dynamic_partitions(period_partitions.name)
    if by_period:
        # a run covers a range of partitions: every period in it is brought in line with its complete file list
        positions = sorted(order.index(key) for key in by_period)
        current = files_by_period(states)
        for key in order[positions[0] : positions[-1] + 1]:
            by_period.setdefault(key, current.get(key, []))
    unchanged = sum(len(files) for files in files_by_period(states).values()) - sum(map(len, by_period.values()))
    if unchanged:
        _say(f"duban: {unchanged} report(s) already in the warehouse and unchanged")
    still_failed = failed_reports(warehouse_path, list(by_period))
    for source_file, error in still_failed:
        _say(f"  failed {source_file} (unchanged since an earlier build): {error}")
    for source_file in removed_files(states, warehouse_path):
        _say(f"  removed {source_file}: no longer under the raw directory; its reports leave the warehouse")
    failed_runs: list[str] = []
    changed: dict[str, str] = {}  # files gone or changed between the scan and the run's read
    outcomes: dict[str, str] = {}
    stale = stale_reports(warehouse_path)
    if stale:
        _say(f"duban: {stale} report(s) were derived by another version of duban's code; re-deriving them (pipeline {pipeline_version()})")
    if by_period:
        job = make_definitions(raw_dir, warehouse_path).resolve_job_def(BUILD_JOB)
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
        else:
            outcomes = _report_outcomes(result)
    rows = report_rows(warehouse_path, list(by_period))
    table = [
        [
            r["publisher"], r["period_key"], r["records_read"], r["accepted"], r["quarantined"],
            "re-derived" if outcomes.get(r["source_file"]) == "re-derived" and r["status"] == "loaded" else r["status"],
            r["source_file"],
        ]
        for r in rows
    ]
    if table:
        _say("")
        _say(format_table(["publisher", "period", "read", "accepted", "quarantined", "status", "file"], table))
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed:
        _say(f"  failed {r['source_file']}: {r['error']}")
    for name, reason in changed.items():
        _say(f"  failed {name}: {reason}")
    _say(f"\nduban: warehouse {warehouse_path}")
    failed_reports_now = len(failed) + len(still_failed) + len(changed)
    problems = len(refused) + failed_reports_now + len(failed_runs)
    if problems:
        _say(f"duban: {problems} problem(s): {len(refused)} file(s) refused, {failed_reports_now} report(s) failed, {len(failed_runs)} run(s) failed")
        return 1
    return 0


def _report_outcomes(result) -> dict[str, str]:
    """source_file → what the load did with it ('loaded', 're-derived', 'unchanged' …), from the run's dim_report materialization."""
    outcomes: dict[str, str] = {}
    for materialization in result.asset_materializations_for_node("star_schema"):
        if materialization.asset_key.path == ["dim_report"] and "reports" in materialization.metadata:
            outcomes.update(materialization.metadata["reports"].value)
    return outcomes


def migrate_check(warehouse: str | None) -> int:
    """Say what the next build would do to the warehouse's schema and derived rows; exit 0 if nothing, 1 if something."""
    from assets.resources import configured_paths

    path = Path(warehouse or configured_paths()[1]).resolve()
    if not path.exists():
        _say(f"duban migrate: no warehouse at {path}; `duban build` creates one with schema {SCHEMA_VERSION}")
        return 0
    try:
        steps = migrations_due(path)
    except DubanError as error:
        print(f"duban migrate: {error}", file=sys.stderr)
        return 2
    stale = stale_reports(path)
    for step in steps:
        _say(f"duban migrate: would migrate {step}")
    if stale:
        _say(f"duban migrate: would re-derive {stale} report(s) derived by another version of duban's code (now {pipeline_version()})")
    if not steps and not stale:
        _say(f"duban migrate: {path} is current (schema {SCHEMA_VERSION}, pipeline {pipeline_version()})")
        return 0
    return 1


def sql(query: str | None, file: str | None, warehouse: str | None, max_rows: int, parser, allow_files: bool = False) -> int:
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
        _say(run_query(path, text, max_rows, allow_files))
    except duckdb.Error as error:
        if isinstance(error, duckdb.IOException) and str(path) in str(error):  # the file: unreadable, or held
            raise open_error(path, error) from None
        print(f"duban sql: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    except DubanError as error:
        print(f"duban sql: {error}", file=sys.stderr)
        return 1
    return 0


def serve_command(
    warehouse: str | None,
    host: str,
    port: int,
    token: str | None,
    token_file: str | None,
    pg_port: int | None = None,
    pg_only: bool = False,
) -> int:
    """Run the Quack server (and the PostgreSQL endpoint with --pg-port) until interrupted."""
    from assets.resources import configured_paths
    from pipelines.pg_endpoint import pg_endpoint
    from pipelines.serve import serve
    from pipelines.serve_checks import read_token

    path = Path(warehouse or configured_paths()[1]).resolve()
    if token and not token_file:
        print(
            "duban serve: warning: --token is visible to every user of this machine (ps); "
            "use --token-file FILE or DUBAN_TOKEN instead",
            file=sys.stderr,
        )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # explicit handlers: a process started in the background by a shell inherits an ignored SIGINT
        signal.signal(signum, lambda *_: stop.set())
    try:
        checked = read_token(token, token_file, os.environ.get("DUBAN_TOKEN"))
        with pg_endpoint(path, host, pg_port, checked, say=_say) as pg:
            while pg_only and pg.running and not stop.wait(0.5):
                pass
            if not pg_only:
                serve(path, host, port, checked, say=_say, poll_seconds=0.5, should_stop=stop.is_set)
    except (DubanError, duckdb.Error, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        print(f"duban serve: {first_line}", file=sys.stderr)
        return 1
    _say("duban serve: stopped")
    return 0


def report(warehouse: str | None, publisher: str | None, period: str | None, out: str | None, pdf: bool) -> int:
    """Write the quarterly briefing (HTML, and PDF with --pdf) from the published warehouse."""
    from assets.resources import configured_paths
    from pipelines.briefing import write_briefings

    path = Path(warehouse or configured_paths()[1]).resolve()
    try:
        written = write_briefings(path, publisher, period, Path(out).resolve() if out else None, pdf)
    except duckdb.Error as error:
        if isinstance(error, duckdb.IOException) and str(path) in str(error):  # the file: unreadable, or held
            raise open_error(path, error) from None
        print(f"duban report: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    if not written:
        print(f"duban report: no facts in {path} for {publisher or 'any publisher'} {period or ''}".rstrip(), file=sys.stderr)
        return 1
    for briefing, page in written:
        _say(f"{briefing.publisher} {briefing.period_key}: {page}" + (f" and {page.with_suffix('.pdf').name}" if pdf else ""))
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
    sql_cmd.add_argument(
        "--allow-files", action="store_true", help="let the query read files (read_csv, read_parquet …); it still cannot write"
    )
    serve_cmd = commands.add_parser("serve", help="serve the published warehouse read-only over DuckDB's Quack protocol")
    serve_cmd.add_argument("--warehouse", metavar="FILE", help="DuckDB file (default: $DUBAN_WAREHOUSE or warehouse/duban.duckdb)")
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback only)")
    serve_cmd.add_argument("--port", type=int, default=9494, help="port (default 9494)")
    secret = serve_cmd.add_mutually_exclusive_group()
    secret.add_argument("--token-file", metavar="FILE", help="read the token (16+ characters) clients must present from FILE")
    secret.add_argument("--token", help="the token on the command line, visible in ps; prefer --token-file or $DUBAN_TOKEN")
    serve_cmd.add_argument("--pg-port", type=int, metavar="P", help="also serve over PostgreSQL's protocol on port P")
    serve_cmd.add_argument("--pg-only", action="store_true", help="with --pg-port: serve only over PostgreSQL")
    migrate_cmd = commands.add_parser("migrate", help="say what the next build would migrate or re-derive")
    migrate_cmd.add_argument("--check", action="store_true", required=True, help="only report (the build itself migrates)")
    migrate_cmd.add_argument("--warehouse", metavar="FILE", help="DuckDB file (default: $DUBAN_WAREHOUSE or warehouse/duban.duckdb)")
    report_cmd = commands.add_parser("report", help="write the quarterly briefing (督查通报) as HTML, and PDF with --pdf")
    report_cmd.add_argument("--warehouse", metavar="FILE", help="DuckDB file (default: $DUBAN_WAREHOUSE or warehouse/duban.duckdb)")
    report_cmd.add_argument("--publisher", metavar="NAME", help="only this publisher (default: every publisher)")
    report_cmd.add_argument("--period", metavar="KEY", help="this period, e.g. 2021Q3 (default: each publisher's latest)")
    report_cmd.add_argument("--out", metavar="PATH", help="a .html file for one briefing, or a folder (default: warehouse/reports/)")
    report_cmd.add_argument("--pdf", action="store_true", help="also print a PDF beside each page (needs Chromium)")
    dev_cmd = commands.add_parser("dev", help="open the Dagster UI (dagster dev) with duban's Dagster home")
    dev_cmd.add_argument("args", nargs=argparse.REMAINDER, help="passed on to dagster dev")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            return build(args.raw, args.warehouse, args.verbose, args.all)
        if args.command == "serve":
            if args.pg_only and args.pg_port is None:
                serve_cmd.error("--pg-only needs --pg-port P")
            return serve_command(
                args.warehouse, args.host, args.port, args.token, args.token_file, args.pg_port, args.pg_only
            )
        if args.command == "migrate":
            return migrate_check(args.warehouse)
        if args.command == "report":
            return report(args.warehouse, args.publisher, args.period, args.out, args.pdf)
        if args.command == "sql":
            return sql(args.query, args.file, args.warehouse, args.max_rows, sql_cmd, args.allow_files)
        return dev(args.args)
    except DubanError as error:  # the warehouse, its folder or DAGSTER_HOME cannot be used: nothing was changed
        print(f"duban {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
