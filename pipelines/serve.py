"""`duban serve`: the published warehouse over DuckDB's Quack protocol, read-only, refreshed after each publish."""

from __future__ import annotations

import ipaddress
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb

from pipelines.errors import DubanError
from pipelines.publish import work_dir

MIN_TOKEN_LENGTH = 4
OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


class ServeError(DubanError):
    """`duban serve` cannot start as asked."""


def extension_file(name: str) -> Path:
    """The DuckDB extension shipped in the duckdb-extension-<name> wheel for this DuckDB version."""
    module = __import__(f"duckdb_extension_{name}")
    path = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.exists():
        raise ServeError(
            f"the {name} extension for DuckDB {duckdb.__version__} is not installed ({path}); "
            f"run `sh bootstrap.sh` to install duckdb-extension-{name}"
        )
    return path


def load_quack(con: duckdb.DuckDBPyConnection) -> None:
    """Load the Quack extension from its wheel; it needs httpfs loaded first. Nothing is downloaded."""
    for name in ("httpfs", "quack"):
        con.execute(f"LOAD '{extension_file(name)}'")


def build_snapshot(published: Path, snapshot: Path) -> int:
    """Copy every table and view of the published file into snapshot as tables; returns how many.

    Quack clients bind views on their side, where the warehouse's tables do not exist, so the served
    database holds the views' rows as tables of the same name.
    """
    snapshot.unlink(missing_ok=True)
    with duckdb.connect(str(snapshot)) as con:
        literal = "'" + str(published).replace("'", "''") + "'"  # ATTACH takes no bound parameters
        con.execute(f"ATTACH {literal} AS published (READ_ONLY)")
        names = [
            name
            for (name,) in con.execute(
                """SELECT table_name FROM duckdb_tables() WHERE database_name = 'published' AND schema_name = 'main'
                   UNION ALL
                   SELECT view_name FROM duckdb_views()
                   WHERE database_name = 'published' AND schema_name = 'main' AND NOT internal"""
            ).fetchall()
        ]
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            con.execute(f"CREATE TABLE main.{quoted} AS FROM published.main.{quoted}")
        con.execute("DETACH published")
        con.execute("CHECKPOINT")
    return len(names)


def _identity(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class QuackServer:
    """One running Quack server over one read-only snapshot file."""

    snapshot: Path
    uri: str
    con: duckdb.DuckDBPyConnection

    @classmethod
    def start(cls, snapshot: Path, host: str, port: int, token: str) -> "QuackServer":
        con = duckdb.connect(str(snapshot), read_only=True, config=OFFLINE)
        load_quack(con)
        uri = f"quack:{host}:{port}"
        con.execute(
            "CALL quack_serve(?, token => ?, allow_other_hostname => ?)", [uri, token, not _is_loopback(host)]
        )
        return cls(snapshot, uri, con)

    def stop(self) -> None:
        self.con.execute("CALL quack_stop(?)", [self.uri])
        self.con.close()
        self.snapshot.unlink(missing_ok=True)


def serve(
    published: Path,
    host: str,
    port: int,
    token: str | None,
    say: Callable[[str], None] = print,
    poll_seconds: float = 1.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Serve the published warehouse until interrupted, swapping in a fresh snapshot after each publish."""
    if not token:
        raise ServeError("a token is required: pass --token TOKEN or set DUBAN_TOKEN")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ServeError(f"the token must be at least {MIN_TOKEN_LENGTH} characters (16 or more is better)")
    if not published.exists():
        raise ServeError(f"no warehouse at {published}; run `duban build` first or pass --warehouse FILE")
    folder = work_dir(published) / "serve"
    folder.mkdir(parents=True, exist_ok=True)
    generation = 0

    def fresh() -> tuple[QuackServer, tuple[int, int, int]]:
        nonlocal generation
        generation += 1
        seen = _identity(published)
        snapshot = folder / f"snapshot-{os.getpid()}-{generation}.duckdb"
        build_snapshot(published, snapshot)
        return QuackServer.start(snapshot, host, port, token), seen

    server, seen = fresh()
    if not _is_loopback(host):
        say(f"duban serve: listening on {host}, not loopback: put a TLS-terminating proxy in front of it")
    say(f"duban serve: serving {published} at {server.uri} (read-only)")
    say(f"  clients: CREATE SECRET (TYPE quack, TOKEN '…'); ATTACH '{server.uri}' AS duban; FROM duban.v_progress;")
    try:
        while not should_stop():
            time.sleep(poll_seconds)
            if published.exists() and _identity(published) != seen:
                server.stop()
                server, seen = fresh()
                say(f"duban serve: published warehouse changed; serving the new snapshot (clients re-ATTACH)")
    finally:
        server.stop()
