"""`duban serve`: the published warehouse over Quack and, with --pg-port, over PostgreSQL's protocol."""

from __future__ import annotations

import os
import signal
import sys
import threading

import duckdb

from pipelines.commands.output import say, warehouse_target
from pipelines.errors import DubanError


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
    from pipelines.pg_endpoint import pg_endpoint
    from pipelines.serve import serve
    from pipelines.serve_checks import read_token

    path = warehouse_target(warehouse)  # a DuckDB file, or a DuckLake (its latest snapshot, followed)
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
        with pg_endpoint(path, host, pg_port, checked, say=say) as pg:
            while pg_only and pg.running and not stop.wait(0.5):
                pass
            if not pg_only:
                serve(path, host, port, checked, say=say, poll_seconds=0.5, should_stop=stop.is_set)
    except (DubanError, duckdb.Error, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        print(f"duban serve: {first_line}", file=sys.stderr)
        return 1
    say("duban serve: stopped")
    return 0


