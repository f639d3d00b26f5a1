"""`duban serve --pg-port`: the published warehouse in a PostgreSQL server, read-only, refreshed after each publish.

Each snapshot is loaded by DuckDB's postgres extension into the schemas duban_next (tables, and one view per
DuckDB view) and duban_rows_next (the views' rows), then one transaction renames them to duban and duban_rows.
Clients log in as the role `duban` (password: the serve token), which may only read the schema duban.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import duckdb

from pipelines.catalog import catalog
from pipelines.errors import DubanError
from pipelines.pg_server import OWNER, PgServer, bindir
from pipelines.serve import OFFLINE, ServeError, extension_file, is_loopback
from pipelines.settings import whole_number

if TYPE_CHECKING:
    from pipelines.targets.base import Target

DATABASE = ROLE = SCHEMA = "duban"
ROWS = "duban_rows"  # the views' rows; only the views' owner reads them
NEXT, ROWS_NEXT = "duban_next", "duban_rows_next"

_SCALARS = {
    "VARCHAR": "text", "BOOLEAN": "boolean", "TINYINT": "smallint", "SMALLINT": "smallint",
    "INTEGER": "integer", "BIGINT": "bigint", "UTINYINT": "smallint", "USMALLINT": "integer",
    "UINTEGER": "bigint", "UBIGINT": "numeric(20,0)", "HUGEINT": "numeric(39,0)", "UHUGEINT": "numeric(39,0)",
    "FLOAT": "real", "DOUBLE": "double precision", "DATE": "date", "TIME": "time",
    "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamptz", "INTERVAL": "interval",
    "BLOB": "bytea", "UUID": "uuid", "JSON": "jsonb",
}


def pg_type(duckdb_type: str) -> str | None:
    """The PostgreSQL type for a DuckDB column type; None when the column is sent as text."""
    if duckdb_type.endswith("[]"):
        inner = pg_type(duckdb_type[:-2])
        return None if inner is None or inner.endswith("[]") else inner + "[]"
    if match := re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", duckdb_type):
        return f"numeric({match[1]},{match[2]})"
    return _SCALARS.get(duckdb_type)


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def load_postgres_extension(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """LOAD the postgres extension from its wheel, through a link named after its entry point (postgres_scanner)."""
    target = extension_file("postgres")
    link = folder / "postgres_scanner.duckdb_extension"
    folder.mkdir(parents=True, exist_ok=True)
    if not (link.is_symlink() and link.resolve() == target.resolve()):
        # made beside it and renamed over it, so processes loading at once never see it missing
        fresh = folder / f".{link.name}.{os.getpid()}"
        fresh.unlink(missing_ok=True)
        try:
            fresh.symlink_to(target)
        except OSError:
            shutil.copyfile(target, fresh)
        os.replace(fresh, link)
    con.execute(f"LOAD {literal(str(link))}")


def _objects(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(name, 'TABLE' or 'VIEW', [(column, DuckDB type)]) for every table and view of the attached published file."""
    kinds = con.execute(
        """SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE database_name = 'published' AND schema_name = 'main'
           UNION ALL
           SELECT view_name, 'VIEW' FROM duckdb_views()
           WHERE database_name = 'published' AND schema_name = 'main' AND NOT internal
           ORDER BY 1"""
    ).fetchall()
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in con.execute(
        """SELECT table_name, column_name, data_type FROM duckdb_columns()
           WHERE database_name = 'published' AND schema_name = 'main' ORDER BY table_name, column_index"""
    ).fetchall():
        columns.setdefault(table, []).append((column, kind))
    return [(name, kind, columns.get(name, [])) for name, kind in kinds]


def _comments(name: str, kind: str, columns: list[tuple[str, str]], schema: str) -> list[str]:
    shared = catalog()["columns"]
    spec = catalog()["tables"].get(name, {})
    target = f"{ident(schema)}.{ident(name)}"
    statements = [f"COMMENT ON {kind} {target} IS {literal(spec['comment'])}"] if spec.get("comment") else []
    for column, _ in columns:
        text = spec.get("columns", {}).get(column) or shared.get(column)
        if text:
            statements.append(f"COMMENT ON COLUMN {target}.{ident(column)} IS {literal(text)}")
    return statements


class PgEndpoint:
    """The PostgreSQL server and the DuckDB connection that loads snapshots into it."""

    def __init__(self, published: Path | Target, host: str, port: int, token: str):
        from pipelines.targets import target_for

        self.target = target_for(published)  # the published file, or a DuckLake (its latest snapshot is served)
        self.folder = self.target.work_dir / "pg"
        listen = None if is_loopback(host) else ["all"]
        self.server = PgServer.start(self.folder, host, port, listen)
        try:
            self._createdb()
            self.con = duckdb.connect(config=OFFLINE)
            load_postgres_extension(self.con, self.target.work_dir / "pg-extension")
            self.con.execute(f"ATTACH {literal(self.server.admin_dsn(DATABASE))} AS pg (TYPE postgres)")
            self._execute(self._role_sql(token))
        except BaseException:
            self.server.stop()
            raise
        self.seen: object = None
        self.stale: list[str] = []  # old schemas still to drop (a client's open transaction held a lock)
        self.generation = 0

    @property
    def url(self) -> str:
        host = f"[{self.server.host}]" if ":" in self.server.host else self.server.host
        return f"postgresql://{ROLE}@{host}:{self.server.port}/{DATABASE}"

    def _createdb(self) -> None:
        args = [bindir() / "createdb", "-h", self.server.folder, "-p", self.server.port, "-U", OWNER, DATABASE]
        out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise ServeError(f"createdb failed: {out.stderr.strip()}")

    def _execute(self, statements: list[str]) -> None:
        """Run the statements in one PostgreSQL transaction."""
        if not statements:
            return
        self.con.execute("CALL postgres_execute('pg', ?)", [";\n".join(statements)])

    @staticmethod
    def _role_sql(token: str) -> list[str]:
        return [
            "REVOKE ALL ON DATABASE duban, postgres, template1 FROM PUBLIC",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC",
            f"CREATE ROLE {ROLE} LOGIN PASSWORD {literal(token)} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"
            " NOBYPASSRLS NOINHERIT CONNECTION LIMIT 90",
            f"GRANT CONNECT ON DATABASE {DATABASE} TO {ROLE}",
            f"ALTER ROLE {ROLE} SET default_transaction_read_only = on",
            f"ALTER ROLE {ROLE} SET search_path = {SCHEMA}",
            # defaults of every session (a client may lower them; temp space is capped server-wide)
            f"ALTER ROLE {ROLE} SET statement_timeout = '{whole_number('DUBAN_SERVE_QUERY_SECONDS', 300)}s'",
            f"ALTER ROLE {ROLE} SET idle_in_transaction_session_timeout = '600s'",
        ]

    def load(self) -> tuple[int, float, float]:
        """Copy the warehouse's current data into duban_next and swap it in; returns (objects, seconds to load, to swap)."""
        started = time.monotonic()
        self.seen = self.target.version()
        self._execute([f"DROP SCHEMA IF EXISTS {NEXT} CASCADE", f"DROP SCHEMA IF EXISTS {ROWS_NEXT} CASCADE",
                       f"CREATE SCHEMA {NEXT}", f"CREATE SCHEMA {ROWS_NEXT}"])
        self.target.attach(self.con, "published")
        try:
            objects = _objects(self.con)
            ddl: list[str] = []
            for name, kind, columns in objects:
                schema = NEXT if kind == "TABLE" else ROWS_NEXT
                body = ", ".join(f"{ident(c)} {pg_type(t) or 'text'}" for c, t in columns)
                ddl.append(f"CREATE TABLE {schema}.{ident(name)} ({body})")
            self._execute(ddl)
            self.con.execute("CALL pg_clear_cache()")
            for name, kind, columns in objects:
                schema = NEXT if kind == "TABLE" else ROWS_NEXT
                select = ", ".join(ident(c) if pg_type(t) else f"CAST({ident(c)} AS VARCHAR)" for c, t in columns)
                self.con.execute(f"INSERT INTO pg.{schema}.{ident(name)} SELECT {select} FROM published.main.{ident(name)}")
        finally:
            self.con.execute("DETACH published")
        finish: list[str] = []
        for name, kind, columns in objects:
            if kind == "VIEW":
                finish.append(f"CREATE VIEW {NEXT}.{ident(name)} AS SELECT * FROM {ROWS_NEXT}.{ident(name)}")
            finish += _comments(name, kind, columns, NEXT)
            finish.append(f"ANALYZE {NEXT if kind == 'TABLE' else ROWS_NEXT}.{ident(name)}")
        self._execute(finish)
        loaded = time.monotonic() - started
        self._swap()
        swapped = time.monotonic() - started - loaded
        self.drop_stale()
        return len(objects), loaded, swapped

    def _swap(self) -> None:
        """In one transaction: the current schemas step aside, the new ones take their names, the role may read."""
        self.generation += 1
        present = {s for (s,) in self.con.execute(
            "FROM postgres_query('pg', 'SELECT nspname::text FROM pg_namespace')").fetchall()}
        old, rows_old = f"duban_old_{self.generation}", f"duban_rows_old_{self.generation}"
        statements = ["SET LOCAL lock_timeout = '10s'"]
        if SCHEMA in present:
            statements += [f"ALTER SCHEMA {SCHEMA} RENAME TO {old}", f"REVOKE ALL ON SCHEMA {old} FROM {ROLE}"]
        if ROWS in present:
            statements.append(f"ALTER SCHEMA {ROWS} RENAME TO {rows_old}")
        statements += [
            f"ALTER SCHEMA {NEXT} RENAME TO {SCHEMA}",
            f"ALTER SCHEMA {ROWS_NEXT} RENAME TO {ROWS}",
            f"GRANT USAGE ON SCHEMA {SCHEMA} TO {ROLE}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO {ROLE}",
        ]
        self._execute(statements)
        self.stale += ([old] if SCHEMA in present else []) + ([rows_old] if ROWS in present else [])
        self.con.execute("CALL pg_clear_cache()")

    def drop_stale(self) -> None:
        """Drop the old schemas no client transaction still holds a lock in; the others are retried on the next poll.

        A client's open transaction that read an old table keeps its lock until it ends; DROP would wait for it.
        """
        if not self.stale:
            return
        held = {s for (s,) in self.con.execute(
            """FROM postgres_query('pg', 'SELECT DISTINCT n.nspname::text FROM pg_locks l
               JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE l.pid <> pg_backend_pid()')""").fetchall()}
        for schema in [s for s in self.stale if s not in held]:
            try:
                self._execute(["SET LOCAL lock_timeout = '200ms'", f"DROP SCHEMA IF EXISTS {schema} CASCADE"])
                self.stale.remove(schema)
            except duckdb.Error:
                pass

    @property
    def running(self) -> bool:
        return self.server.proc.poll() is None

    def changed(self) -> bool:
        version = self.target.version()
        return version is not None and version != self.seen

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            self.server.stop()


def _watch(endpoint: PgEndpoint, say: Callable[[str], None], stop: threading.Event, poll_seconds: float) -> None:
    while not stop.wait(poll_seconds):
        try:
            if endpoint.server.proc.poll() is not None:
                say(f"duban serve: PostgreSQL exited unexpectedly:\n{endpoint.server.log_tail()}")
                return
            endpoint.drop_stale()
            if endpoint.changed():
                count, seconds, swap = endpoint.load()
                say(f"duban serve: PostgreSQL serves the new snapshot ({count} tables and views, "
                    f"loaded in {seconds:.2f}s, swapped in {swap * 1000:.0f}ms)")
        except (duckdb.Error, DubanError, OSError) as error:  # DubanError: ServeError, or a lake out of reach
            say(f"duban serve: PostgreSQL kept the previous snapshot: {error}")


@contextmanager
def pg_endpoint(
    published: Path | Target,
    host: str,
    port: int | None,
    token: str | None,
    say: Callable[[str], None] = print,
    poll_seconds: float = 0.5,
) -> Iterator[PgEndpoint | None]:
    """Run the PostgreSQL endpoint (when port is given) for the duration of the with-block."""
    if port is None:
        yield None
        return
    if not token:
        raise ServeError("a token is required: pass --token TOKEN or set DUBAN_TOKEN")
    from pipelines.targets import target_for

    target = target_for(published)
    if not target.exists():
        raise ServeError(f"no warehouse at {target.label}; run `duban build` first or pass --warehouse FILE")
    published = target
    started = time.monotonic()
    endpoint = PgEndpoint(published, host, port, token)
    stop = threading.Event()
    watcher = None
    died = ""
    try:
        count, seconds, _ = endpoint.load()
        say(f"duban serve: PostgreSQL at {endpoint.url} (read-only; password: the token); "
            f"{count} tables and views loaded in {seconds:.2f}s, ready in {time.monotonic() - started:.1f}s")
        watcher = threading.Thread(target=_watch, args=(endpoint, say, stop, poll_seconds), daemon=True)
        watcher.start()
        yield endpoint
        if not endpoint.running:
            died = endpoint.server.log_tail()
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=120)
        endpoint.close()
        say("duban serve: PostgreSQL stopped")
    if died:
        raise ServeError(f"PostgreSQL exited unexpectedly; its log ends with:\n{died}")
