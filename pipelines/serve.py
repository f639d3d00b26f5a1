"""`duban serve`: the published warehouse over DuckDB's Quack protocol, read-only, refreshed after each publish."""

from __future__ import annotations

import ipaddress
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import duckdb

from pipelines.catalog import apply_comments
from pipelines.contracts import identifier
from pipelines.errors import DubanError
from pipelines.serve_checks import PublishedLockedError, ServeError, check_port_free, locked_message
from pipelines.settings import whole_number
from pipelines.sqlguard import allowed_expression

if TYPE_CHECKING:
    from pipelines.targets.base import Target

OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
# The Quack authorization callback, kept in the snapshot so the server's fresh callback connections see it.
AUTHORIZE = "duban_server.authorize"


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


def build_snapshot(published: Path | Target, snapshot: Path) -> int:
    """Copy every table and view of the warehouse (the published file, or a DuckLake's latest snapshot) into
    snapshot as tables; returns how many.

    Quack clients bind views on their side, where the warehouse's tables do not exist, so the served
    database holds the views' rows as tables of the same name, with the catalog's comments.
    """
    target = _target(published)
    snapshot.unlink(missing_ok=True)
    try:
        return _copy_into(target, snapshot)
    except duckdb.IOException as error:
        snapshot.unlink(missing_ok=True)
        if "lock" in str(error).lower():
            raise PublishedLockedError(locked_message(target.label, error)) from None
        raise


def _target(warehouse: Path | Target) -> Target:
    from pipelines.targets import target_for

    return target_for(warehouse)


def _copy_into(target: Target, snapshot: Path) -> int:
    with duckdb.connect(str(snapshot)) as con:
        target.attach(con, "published")
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
            con.execute(f"CREATE TABLE main.{identifier(name)} AS FROM published.main.{identifier(name)}")
        con.execute("DETACH published")
        apply_comments(con)  # CREATE TABLE AS copies no COMMENT; a view's comment lands on its table
        schema = AUTHORIZE.split(".")[0]
        con.execute(f"CREATE SCHEMA {schema}")
        con.execute(f"CREATE MACRO {AUTHORIZE}(connection_id, query) AS ({allowed_expression('query')})")
        con.execute("CHECKPOINT")
    return len(names)


def served_shape(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """{table or view of schema main: [(column, type), …]}: what clients bind their queries to."""
    shape: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in con.execute(
        """SELECT table_name, column_name, data_type FROM duckdb_columns()
           WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal
           ORDER BY table_name, column_index"""
    ).fetchall():
        shape.setdefault(table, []).append((column, kind))
    return shape


@dataclass(frozen=True)
class ShapeChange:
    """What a publish adds to the served shape: whole tables, and columns appended to served tables."""

    tables: list[str]
    columns: list[tuple[str, str, str]]  # (table, column, type)

    def __bool__(self) -> bool:
        return bool(self.tables or self.columns)

    def names(self) -> list[str]:
        return self.tables + [f"{table}.{column}" for table, column, _ in self.columns]


def additive_change(
    served: dict[str, list[tuple[str, str]]], incoming: dict[str, list[tuple[str, str]]]
) -> ShapeChange | None:
    """The tables and columns that turn the served shape into the incoming one by adding only; None when a
    served table or column is gone from the incoming shape or has another type there."""
    columns: list[tuple[str, str, str]] = []
    for table, kept in served.items():
        if table not in incoming or not set(kept) <= set(incoming[table]):
            return None
        names = {column for column, _ in kept}
        columns += [(table, column, kind) for column, kind in incoming[table] if column not in names]
    return ShapeChange([table for table in incoming if table not in served], columns)


def published_identity(path: Path) -> tuple[int, int, int]:
    """Changes when a publish renames a new file over the published one."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def is_loopback(host: str) -> bool:
    """Whether host names this machine only (127.0.0.0/8, ::1, localhost)."""
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
    stopped: bool = False

    @classmethod
    def start(cls, snapshot: Path, host: str, port: int, token: str) -> "QuackServer":
        """Listen on host:port. Clients may only SELECT from the snapshot: every query passes the authorization
        macro; files, extensions and other databases are out of reach and the settings are locked."""
        uri = f"quack:{host}:{port}"
        # writable by this process only, for refresh(): clients pass the authorization macro, which admits reads only
        con = duckdb.connect(str(snapshot), config=OFFLINE)
        try:
            load_quack(con)
            con.execute(f"SET GLOBAL quack_authorization_function = '{AUTHORIZE}'")
            # one bound for all token holders' queries together, locked below with the rest of the configuration
            con.execute(f"SET memory_limit = '{whole_number('DUBAN_SERVE_MEMORY_MB', 2048)}MiB'")
            con.execute(f"SET max_temp_directory_size = '{whole_number('DUBAN_SERVE_TEMP_MB', 1024)}MiB'")
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            con.execute(
                "CALL quack_serve(?, token => ?, allow_other_hostname => ?)", [uri, token, not is_loopback(host)]
            )
        except BaseException:
            con.close()
            snapshot.unlink(missing_ok=True)
            raise
        return cls(snapshot, uri, con)

    def refresh(self, published: Path | Target) -> list[str] | None:
        """Bring the served tables to the published file's rows in one transaction, without stopping the server.

        Clients stay attached and see the new rows on their next query (a query running meanwhile reads the
        old ones). New tables are created and new columns appended to served tables; returns their names.
        Returns None, changing nothing, when a table or column went away or changed type: clients bind
        columns by position and would read the wrong one, so the caller restarts on a new snapshot instead.
        """
        target = _target(published)
        try:
            source = target.read(dict(OFFLINE))  # tables and views resolve unqualified, in schema main
        except duckdb.IOException as error:
            if "lock" in str(error).lower():
                raise PublishedLockedError(locked_message(target.label, error)) from None
            raise
        with source:
            source.execute("BEGIN TRANSACTION")  # one snapshot of a DuckLake for every table read below
            incoming = served_shape(source)
            change = additive_change(served_shape(self.con), incoming)
            if change is None:
                return None
            cursor = self.con.cursor()
            cursor.execute("BEGIN TRANSACTION")
            try:
                for table, column, kind in change.columns:
                    cursor.execute(f"ALTER TABLE main.{identifier(table)} ADD COLUMN {identifier(column)} {kind}")
                for table in change.tables:
                    columns = ", ".join(f"{identifier(column)} {kind}" for column, kind in incoming[table])
                    cursor.execute(f"CREATE TABLE main.{identifier(table)} ({columns})")
                for name in incoming:
                    rows = source.execute(f"FROM main.{identifier(name)}").to_arrow_table()
                    cursor.register("duban_incoming_rows", rows)
                    cursor.execute(f"DELETE FROM main.{identifier(name)}")
                    cursor.execute(f"INSERT INTO main.{identifier(name)} BY NAME SELECT * FROM duban_incoming_rows")
                    cursor.unregister("duban_incoming_rows")
                if change:
                    apply_comments(cursor)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            finally:
                cursor.close()
        return change.names()

    def stop(self) -> None:
        """Stop listening and delete the snapshot; a second call does nothing."""
        if self.stopped:
            return
        self.stopped = True
        try:
            self.con.execute("CALL quack_stop(?)", [self.uri])
        finally:
            self.con.close()
            self.snapshot.unlink(missing_ok=True)


def serve(
    published: Path | Target,
    host: str,
    port: int,
    token: str | None,
    say: Callable[[str], None] = print,
    poll_seconds: float = 1.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Serve the warehouse until interrupted, bringing in each publish (on a DuckLake: each committed snapshot).

    The token has been checked (serve_checks.read_token)."""
    target = _target(published)
    if not target.exists():
        raise ServeError(f"no warehouse at {target.label}; run `duban build` first or pass --warehouse FILE")
    check_port_free(host, port)
    folder = target.work_dir / "serve"
    folder.mkdir(parents=True, exist_ok=True)
    generation = 0

    def snapshot() -> tuple[Path, tuple[int, int, int]]:
        nonlocal generation
        generation += 1
        seen = target.version()
        path = folder / f"snapshot-{os.getpid()}-{generation}.duckdb"
        build_snapshot(target, path)
        return path, seen

    path, seen = snapshot()
    server = QuackServer.start(path, host, port, token)
    if not is_loopback(host):
        say(f"duban serve: listening on {host}, not loopback: put a TLS-terminating proxy in front of it")
    say(f"duban serve: serving {target.label} at {server.uri} (read-only)")
    say(f"  clients: CREATE SECRET (TYPE quack, TOKEN '…'); ATTACH '{server.uri}' AS duban; FROM duban.v_progress;")
    last_problem = ""
    try:
        while not should_stop():
            time.sleep(poll_seconds)
            changed = target.version()
            if changed is None or changed == seen:
                continue
            try:
                added = server.refresh(target)
                if added is not None:
                    seen, last_problem = changed, ""
                    say("duban serve: published warehouse changed; clients see it on their next query" + (
                        f" (added: {', '.join(added)}; an attached client lists new columns after "
                        "FROM quack_clear_cache())" if added else ""))
                    continue
                path, changed = snapshot()  # the old snapshot stays served until the new one is complete
            except (PublishedLockedError, DubanError) as error:  # a file held open for writing, a lake out of reach
                if str(error) != last_problem:
                    say(f"duban serve: still serving the previous snapshot: {error}")
                last_problem = str(error)
                continue
            last_problem = ""
            server.stop()
            server, seen = QuackServer.start(path, host, port, token), changed
            say("duban serve: a published table or column was removed or changed type; serving a new snapshot: "
                "attached clients get 'Invalid connection id' until they DETACH and ATTACH again")
    finally:
        server.stop()
