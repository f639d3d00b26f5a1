"""The `duban` command: build the warehouse from raw reports, or open the Dagster UI."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

import duckdb

from pipelines.errors import DubanError, WarehouseLocked, WarehouseUnreadable
from pipelines.instance import dagster_home, setting_up_instance
from pipelines.lock import build_lock
from pipelines.manifest import FileState, files_by_period, load_states, save_states, scan_raw
from pipelines.migrate import SCHEMA_VERSION
from pipelines.plan import failed_reports, migrations_due, periods_to_build, removed_files, stale_reports
from pipelines.publish import work_dir, working_path
from pipelines.version import pipeline_version
from pipelines.progress import stage, stop_display, terminal
from pipelines.runs import reap_dead_runs, run_tags
from pipelines.summary import (
    TABLE_LIMIT, format_table, quarantine_by_reason, report_rows, scaled_summary, totals, totals_line, write_report_file,
)
from pipelines.working import check_published, check_working_free, keep_modified_published, open_error, verify_working


_to_stderr = False  # --json: stdout holds only the JSON document


def _say(message: str) -> None:
    print(message, file=sys.stderr if _to_stderr else sys.stdout, flush=True)


def _scan(raw_dir: Path, warehouse: Path) -> tuple[dict[str, FileState], list[str]]:
    """The state of every file under raw_dir (only changed files are read) and the refusals, as messages."""
    cache = work_dir(warehouse) / "raw-manifest"
    previous, warning = load_states(cache)
    if warning:
        _say(f"duban: {warning}")
    with stage("scan", None, "files") as progress:  # staged: the run reads them once
        states, changes = scan_raw(raw_dir, previous, work_dir(warehouse) / "staging", progress=progress.update)
    for name in changes.skipped:
        _say(f"  skipped {raw_dir / name}: not a report (a lock, thumbnail, backup or system file)")
    save_states(cache, states)
    refused = [f"{raw_dir / name}: {state.error}" for name, state in sorted(states.items()) if state.error]
    return states, refused, changes.skipped


def build(
    raw: str | None,
    warehouse: str | None,
    verbose: bool = False,
    everything: bool = False,
    as_json: bool = False,
    report_file: str | None = None,
) -> int:
    """Materialize the asset graph for every period found under the raw directory; returns the exit status.

    One build at a time per warehouse: a second one waits for the first (a lock in the warehouse's .work
    folder, taken before anything is read or Dagster's instance is opened). Problems with the warehouse
    file, its folder or DAGSTER_HOME are raised as DubanError before anything is written.
    Progress goes to stderr; the summary to stdout, or with as_json one JSON document (messages to stderr).
    """
    global _to_stderr
    from pipelines.settings import configured_paths

    default_raw, default_warehouse = configured_paths()
    raw_dir = Path(raw or default_raw).resolve()
    warehouse_path = Path(warehouse or default_warehouse).resolve()
    _to_stderr = as_json
    if not raw_dir.is_dir():
        message = f"raw directory {raw_dir} does not exist; create it or pass --raw DIR"
        _say(f"duban: {message}")
        if as_json:
            print(json.dumps({"exit_status": 2, "error": message}, ensure_ascii=False), flush=True)
        return 2
    with build_lock(work_dir(warehouse_path), _say):
        check_published(warehouse_path)
        with terminal():
            status, document = _build_locked(raw_dir, warehouse_path, verbose, everything)
    if report_file:
        write_report_file(Path(report_file), document["reports"])
    if as_json:
        print(json.dumps(document, ensure_ascii=False, indent=1, default=str), flush=True)
    return status


def _build_locked(raw_dir: Path, warehouse_path: Path, verbose: bool, everything: bool) -> tuple[int, dict]:
    """Scan, plan, run and summarise; returns the exit status and the build's account (the --json document)."""
    _say(f"duban: reading reports under {raw_dir}")
    states, refused, skipped = _scan(raw_dir, warehouse_path)
    for message in refused:
        _say(f"  refused {message}")
    by_period = periods_to_build(states, warehouse_path, everything)
    for step in migrations_due(warehouse_path):
        _say(f"duban: migrating the warehouse: {step}")
    if by_period:
        working = working_path(warehouse_path)
        kept = keep_modified_published(warehouse_path, working)
        if kept:
            _say(kept)
        restored = verify_working(warehouse_path, working)
        if restored:
            _say(restored)
        check_working_free(working)
    order: list[str] = []
    dagster_home()  # an unusable DAGSTER_HOME is said on every build, even one with nothing to do
    if by_period:  # nothing to build: Dagster is not even imported
        from assets.partitions import period_partitions

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
    removed = removed_files(states, warehouse_path)
    for source_file in removed:
        _say(f"  removed {source_file}: no longer under the raw directory; its reports leave the warehouse")
    failed_runs: list[str] = []
    changed: dict[str, str] = {}  # files gone or changed between the scan and the run's read
    outcomes: dict[str, str] = {}
    run_id = None
    stale = stale_reports(warehouse_path)
    if stale:
        _say(f"duban: {stale} report(s) were derived by another version of duban's code; re-deriving them (pipeline {pipeline_version()})")
    if by_period:
        from assets.definitions import BUILD_JOB, make_definitions
        from assets.ingest import changed_files
        from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

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
        run_id = result.run_id
        if not result.success:
            failed_runs.append(result.run_id)
            _say(f"  run {result.run_id} failed; `duban build --verbose` or `duban dev` (Dagster UI) shows its log")
        else:
            outcomes = _report_outcomes(result)
    stop_display()
    rows = report_rows(warehouse_path, list(by_period))
    for r in rows:
        if outcomes.get(r["source_file"]) == "re-derived" and r["status"] == "loaded":
            r["status"] = "re-derived"
    if rows and (verbose or len(rows) <= TABLE_LIMIT):
        table = [
            [r["publisher"], r["period_key"], r["records_read"], r["accepted"], r["quarantined"], r["status"], r["source_file"]]
            for r in rows
        ]
        _say("")
        _say(format_table(["publisher", "period", "read", "accepted", "quarantined", "status", "file"], table))
    reasons = quarantine_by_reason(warehouse_path, [r["source_file"] for r in rows])
    if rows:
        _say("")
        for line in scaled_summary(rows, reasons):
            _say(line)
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed:
        _say(f"  failed {r['source_file']}: {r['error']}")
    for name, reason in changed.items():
        _say(f"  failed {name}: {reason}")
    _say(f"\nduban: warehouse {warehouse_path}")
    total = totals(rows)
    rederived = sum(r["status"] == "re-derived" for r in rows)
    _say(f"duban: {totals_line(total)}" + (f", {rederived} re-derived" if rederived else ""))
    failed_reports_now = len(failed) + len(still_failed) + len(changed)
    problems = len(refused) + failed_reports_now + len(failed_runs)
    if problems:
        _say(f"duban: {problems} problem(s): {len(refused)} file(s) refused, {failed_reports_now} report(s) failed, {len(failed_runs)} run(s) failed")
    document = {
        "warehouse": str(warehouse_path),
        "raw": str(raw_dir),
        "run_id": run_id,
        "failed_run_ids": failed_runs,
        "pipeline_version": pipeline_version(),
        "exit_status": 1 if problems else 0,
        "periods_built": list(by_period),
        "totals": {**total, "re_derived": rederived, "unchanged_elsewhere": unchanged, "refused_files": len(refused)},
        "reports": [
            {**r, "outcome": outcomes.get(r["source_file"], r["status"]) if r["status"] != "failed" else "failed"}
            for r in rows
        ],
        "quarantine_by_reason": [{"reason": reason, "records": n, "reports": k} for reason, n, k in reasons],
        "refused": refused,
        "skipped": skipped,
        "failed_unchanged": [{"source_file": f, "error": e} for f, e in still_failed],
        "changed_during_build": [{"source_file": f, "error": e} for f, e in changed.items()],
        "removed": removed,
    }
    return (1 if problems else 0), document


def _report_outcomes(result) -> dict[str, str]:
    """source_file → what the load did with it ('loaded', 're-derived', 'unchanged' …), from the run's dim_report materialization."""
    outcomes: dict[str, str] = {}
    for materialization in result.asset_materializations_for_node("star_schema"):
        if materialization.asset_key.path == ["dim_report"] and "reports" in materialization.metadata:
            outcomes.update(materialization.metadata["reports"].value)
    return outcomes


def migrate_check(warehouse: str | None) -> int:
    """Say what the next build would do to the warehouse's schema and derived rows; exit 0 if nothing, 1 if something."""
    from pipelines.settings import configured_paths

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
    from pipelines.settings import configured_paths
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
    except (WarehouseLocked, WarehouseUnreadable):
        raise  # the warehouse itself cannot be used: one line and exit status 2, as for build
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
    from pipelines.settings import configured_paths
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
    from pipelines.settings import configured_paths
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


def workspace_file() -> Path:
    """The repository's workspace.yaml, found from the installed package (so `duban dev` works from any folder)."""
    import pipelines

    return Path(pipelines.__file__).resolve().parent.parent / "workspace.yaml"


def dev(host: str, port: int, extra: list[str]) -> int:
    """Start `dagster dev` on this project with duban's Dagster home, so `duban build` runs show up."""
    home = dagster_home()
    dagster = str(Path(sys.executable).with_name("dagster"))
    if not Path(dagster).exists():
        dagster = shutil.which("dagster") or dagster
    workspace = workspace_file()
    if extra[:1] == ["--"]:
        extra = extra[1:]
    _say(f"duban: DAGSTER_HOME={home}")
    _say(f"duban: Dagster UI at http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port} (workspace {workspace})")
    os.execv(dagster, [dagster, "dev", "-w", str(workspace), "-h", host, "-p", str(port), *extra])
    return 0  # not reached


def status_command(warehouse: str | None, as_json: bool) -> int:
    """What the published warehouse holds: periods, publishers, last build, failed and superseded files, quarantine."""
    from pipelines.settings import configured_paths
    from pipelines.status import format_status, warehouse_status

    path = Path(warehouse or configured_paths()[1]).resolve()
    if not path.exists():
        print(f"duban status: no warehouse at {path}; `duban build` creates it", file=sys.stderr)
        return 1
    try:
        held = warehouse_status(path)
    except duckdb.Error as error:
        raise open_error(path, error) from None
    if as_json:
        print(json.dumps(held, ensure_ascii=False, indent=1, default=str))
    else:
        _say(format_status(held))
    return 0


def version_text() -> str:
    """`duban 0.1.0 (pipeline 1a2b…)`: the installed distribution's version and the pipeline version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("duban")
    except PackageNotFoundError:
        installed = "unknown"
    return f"duban {installed} (pipeline {pipeline_version()})"


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless it has none (or its help names it already)."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line: what is wrong and where to find the usage."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

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


WAREHOUSE_HELP = "DuckDB file (default: $DUBAN_WAREHOUSE, else warehouse/duban.duckdb)"


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="duban",
        description="Responsibility-target progress reports → DuckDB warehouse.",
        epilog="environment: DUBAN_RAW, DUBAN_WAREHOUSE, DAGSTER_HOME (default .dagster/ in the current folder), "
        "DUBAN_WORKERS, DUBAN_PROGRESS_SECONDS (see each command's --help)",
    )
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser(
        "build",
        help="build the warehouse from the reports in the raw directory",
        description="Build the warehouse from the reports in the raw directory. Progress goes to stderr "
        "(a live bar on a terminal, else a line every $DUBAN_PROGRESS_SECONDS seconds, default 5); "
        "reading and reshaping use $DUBAN_WORKERS worker processes (default one per core); "
        "Dagster's run history is kept in $DAGSTER_HOME (default .dagster/ in the current folder).",
    )
    build_cmd.add_argument("--raw", metavar="DIR", help="raw reports folder (default: $DUBAN_RAW, else raw/)")
    build_cmd.add_argument("--warehouse", metavar="FILE", help=WAREHOUSE_HELP)
    build_cmd.add_argument(
        "--verbose", action="store_true", help="show Dagster's step-by-step log and one summary line per report"
    )
    build_cmd.add_argument(
        "--json", action="store_true", help="print one JSON document (totals, per-report results, run id) on stdout; messages go to stderr"
    )
    build_cmd.add_argument("--report-file", metavar="PATH", help="also write one CSV row per report built to PATH")
    build_cmd.add_argument(
        "--all", action="store_true", help="rebuild every period, not only those with new or changed files"
    )
    sql_cmd = commands.add_parser("sql", help="run a query read-only against the published warehouse")
    sql_cmd.add_argument("query", nargs="?", help="the SQL to run (or use --file)")
    sql_cmd.add_argument("--file", "-f", metavar="FILE", help="read the SQL from FILE, e.g. warehouse/queries/stale_reports.sql")
    sql_cmd.add_argument("--warehouse", metavar="FILE", help=WAREHOUSE_HELP)
    sql_cmd.add_argument("--max-rows", type=_row_count, default=200, help="rows to print at most")
    sql_cmd.add_argument(
        "--allow-files", action="store_true", help="let the query read files (read_csv, read_parquet …); it still cannot write"
    )
    serve_cmd = commands.add_parser("serve", help="serve the published warehouse read-only over DuckDB's Quack protocol")
    serve_cmd.add_argument("--warehouse", metavar="FILE", help=WAREHOUSE_HELP)
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1: loopback only)")
    serve_cmd.add_argument("--port", type=int, default=9494, help="port")
    secret = serve_cmd.add_mutually_exclusive_group()
    secret.add_argument("--token-file", metavar="FILE", help="read the token (16+ characters) clients must present from FILE (default: $DUBAN_TOKEN)")
    secret.add_argument("--token", help="the token on the command line, visible in ps; prefer --token-file or $DUBAN_TOKEN")
    serve_cmd.add_argument("--pg-port", type=int, metavar="P", help="also serve over PostgreSQL's protocol on port P")
    serve_cmd.add_argument("--pg-only", action="store_true", help="with --pg-port: serve only over PostgreSQL")
    migrate_cmd = commands.add_parser("migrate", help="say what the next build would migrate or re-derive")
    migrate_cmd.add_argument("--check", action="store_true", required=True, help="only report (the build itself migrates)")
    migrate_cmd.add_argument("--warehouse", metavar="FILE", help=WAREHOUSE_HELP)
    status_cmd = commands.add_parser(
        "status", help="say what the published warehouse holds: periods, publishers, last build, failures, quarantine"
    )
    status_cmd.add_argument("--warehouse", metavar="FILE", help=WAREHOUSE_HELP)
    status_cmd.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    report_cmd = commands.add_parser("report", help="write the quarterly briefing (督查通报) as HTML, and PDF with --pdf")
    report_cmd.add_argument("--warehouse", metavar="FILE", help=WAREHOUSE_HELP)
    report_cmd.add_argument("--publisher", metavar="NAME", help="only this publisher (default: every publisher)")
    report_cmd.add_argument("--period", metavar="KEY", help="this period, e.g. 2021Q3 (default: each publisher's latest)")
    report_cmd.add_argument("--out", metavar="PATH", help="a .html file for one briefing, or a folder (default: warehouse/reports/)")
    report_cmd.add_argument("--pdf", action="store_true", help="also print a PDF beside each page (needs Chromium)")
    dev_cmd = commands.add_parser(
        "dev",
        help="open the Dagster UI (dagster dev) with duban's Dagster home",
        description="Run `dagster dev` on duban's workspace from any folder, with DAGSTER_HOME "
        "(default .dagster/ in the current folder) so runs of `duban build` show up; "
        "the code location reads $DUBAN_RAW and $DUBAN_WAREHOUSE. Anything after -- goes to dagster dev.",
    )
    dev_cmd.add_argument("--host", default="127.0.0.1", help="address the UI listens on")
    dev_cmd.add_argument("--port", type=int, default=3000, help="port the UI listens on")
    dev_cmd.add_argument("args", nargs=argparse.REMAINDER, help="after --: passed on to dagster dev")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            return build(args.raw, args.warehouse, args.verbose, args.all, args.json, args.report_file)
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
        if args.command == "status":
            return status_command(args.warehouse, args.json)
        return dev(args.host, args.port, args.args)
    except DubanError as error:  # the warehouse, its folder or DAGSTER_HOME cannot be used: nothing was changed
        print(f"duban {args.command}: {error}", file=sys.stderr)
        if getattr(args, "json", False):  # automation reads the refusal from stdout too
            print(json.dumps({"exit_status": 2, "error": str(error)}, ensure_ascii=False), flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
