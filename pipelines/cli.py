"""The `duban` command line: parses the arguments and calls the subcommand's module in pipelines/commands/."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys

from pipelines.errors import DubanError
from pipelines.version import pipeline_version


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


WAREHOUSE_HELP = (
    "DuckDB file, or a DuckLake: ducklake:postgres:<libpq conninfo> or ducklake:<path>.ducklake "
    "(default: $DUBAN_WAREHOUSE, else warehouse/duban.duckdb)"
)
DATA_PATH_HELP = "a DuckLake's folder (or s3:// URL) for its Parquet files (default: $DUBAN_DATA_PATH; needed when the lake is new)"


class _InterruptedCloseFilter(logging.Filter):
    """Drops SQLAlchemy's log of a connection close that Ctrl-C interrupted: the interrupt goes on, and duban reports it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt))


# SQLAlchemy logs each pool class under its own name (a filter on a parent logger would not see the record).
SQLALCHEMY_POOL_LOGGERS = tuple(f"sqlalchemy.pool.impl.{name}" for name in (
    "QueuePool", "NullPool", "SingletonThreadPool", "StaticPool", "AssertionPool",
    "AsyncAdaptedQueuePool", "FallbackAsyncAdaptedQueuePool",
))


def quiet_interrupted_closes() -> None:
    """Keep SQLAlchemy's connection pools (Dagster's storage) from printing a traceback for a Ctrl-C."""
    for name in SQLALCHEMY_POOL_LOGGERS:
        pool_logger = logging.getLogger(name)
        if not any(isinstance(f, _InterruptedCloseFilter) for f in pool_logger.filters):
            pool_logger.addFilter(_InterruptedCloseFilter())


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="duban",
        description="Responsibility-target progress reports → DuckDB warehouse.",
        epilog="environment: DUBAN_RAW, DUBAN_WAREHOUSE, DUBAN_DATA_PATH, DAGSTER_HOME (default .dagster/ in the current folder), "
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
    build_cmd.add_argument("--data-path", metavar="DIR", help=DATA_PATH_HELP)
    build_cmd.add_argument(
        "--verbose", action="store_true", help="show Dagster's step-by-step log and one summary line per report"
    )
    build_cmd.add_argument(
        "--json", action="store_true", help="print one JSON document (totals, per-report results, run id) on stdout; messages go to stderr"
    )
    build_cmd.add_argument("--report-file", metavar="PATH", help="also write one CSV row per report built to PATH")
    build_cmd.add_argument(
        "--timings", action="store_true", help="after the summary, show the seconds spent in each stage (also in --json)"
    )
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
    export_cmd = commands.add_parser(
        "export-lake",
        help="copy a DuckDB-file warehouse into an empty DuckLake (or, with --from, a DuckLake into a new DuckDB file)",
        description="Copy a DuckDB-file warehouse, history and all (superseded reports, quarantine, key counters), "
        "into an empty DuckLake as one snapshot and create its views as a build does: "
        "`duban export-lake --to ducklake:… [--data-path DIR] [--warehouse FILE]`. The way back writes a new "
        "DuckDB file that builds, `duban sql` and `duban status` take as a normal warehouse: "
        "`duban export-lake --from ducklake:… --to FILE.duckdb`. A lake that holds a warehouse, an existing file, "
        "or a source of another schema version is refused with nothing written.",
    )
    export_cmd.add_argument("--to", required=True, metavar="TARGET",
                            help="the empty DuckLake to fill (ducklake:postgres:<conninfo> or ducklake:<path>.ducklake), "
                            "or with --from the new DuckDB file")
    export_cmd.add_argument("--from", dest="source", metavar="LAKE", help="the DuckLake to write out as a DuckDB file")
    export_cmd.add_argument("--warehouse", metavar="FILE",
                            help="the DuckDB file to copy (default: $DUBAN_WAREHOUSE, else warehouse/duban.duckdb)")
    export_cmd.add_argument("--data-path", metavar="DIR", help=DATA_PATH_HELP)
    dev_cmd = commands.add_parser(
        "dev",
        help="open the Dagster UI (dagster dev) with duban's Dagster home",
        description="Run `dagster dev` on duban's workspace from any folder, with DAGSTER_HOME "
        "(default .dagster/ in the current folder) so runs of `duban build` show up; "
        "the code location reads $DUBAN_RAW and $DUBAN_WAREHOUSE. Anything after -- goes to dagster dev.",
    )
    dev_cmd.add_argument("--host", default="127.0.0.1", help="address the UI listens on")
    dev_cmd.add_argument("--port", type=int, default=3000, help="port the UI listens on")
    dev_cmd.add_argument("--instance", metavar="URL", help="keep runs, events and schedules in this PostgreSQL database "
                         "(postgresql://user:password@host:port/db; default $DUBAN_DAGSTER_STORAGE, else SQLite in DAGSTER_HOME)")
    dev_cmd.add_argument("args", nargs=argparse.REMAINDER, help="after --: passed on to dagster dev")
    args = parser.parse_args(argv)
    quiet_interrupted_closes()
    try:
        return _run(args, serve_cmd, sql_cmd)
    except KeyboardInterrupt:
        print(f"\nduban {args.command}: interrupted; nothing was half-written (a publish is whole or not at all): "
              "run the command again", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `duban sql … | head`: the reader has gone; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise
        print(f"duban {args.command}: {error.strerror} ({error.filename or 'writing'}): free space in the warehouse "
              "folder and run it again; the published warehouse is as it was", file=sys.stderr)
        return 2
    except DubanError as error:  # the warehouse, its folder or DAGSTER_HOME cannot be used: nothing was changed
        print(f"duban {args.command}: {error}", file=sys.stderr)
        if getattr(args, "json", False):  # automation reads the refusal from stdout too
            print(json.dumps({"exit_status": 2, "error": str(error)}, ensure_ascii=False), flush=True)
        return 2


def _run(args: argparse.Namespace, serve_cmd: argparse.ArgumentParser, sql_cmd: argparse.ArgumentParser) -> int:
    """Call the subcommand's module (imported only when used, so `duban --help` stays quick)."""
    if args.command == "build":
        from pipelines.commands.build import build

        return build(args.raw, args.warehouse, args.verbose, args.all, args.json, args.report_file, args.timings, args.data_path)
    if args.command == "serve":
        from pipelines.commands.serve import serve_command

        if args.pg_only and args.pg_port is None:
            serve_cmd.error("--pg-only needs --pg-port P")
        return serve_command(args.warehouse, args.host, args.port, args.token, args.token_file, args.pg_port, args.pg_only)
    if args.command == "migrate":
        from pipelines.commands.migrate import migrate_check

        return migrate_check(args.warehouse)
    if args.command == "report":
        from pipelines.commands.report import report

        return report(args.warehouse, args.publisher, args.period, args.out, args.pdf)
    if args.command == "sql":
        from pipelines.commands.sql import sql

        return sql(args.query, args.file, args.warehouse, args.max_rows, sql_cmd, args.allow_files)
    if args.command == "status":
        from pipelines.commands.status import status_command

        return status_command(args.warehouse, args.json)
    if args.command == "export-lake":
        from pipelines.commands.export_lake import export_lake

        return export_lake(args.to, args.source, args.warehouse, args.data_path)
    from pipelines.commands.dev import dev

    return dev(args.host, args.port, args.args, args.instance)


if __name__ == "__main__":
    sys.exit(main())
