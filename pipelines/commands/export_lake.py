"""`duban export-lake`: copy a DuckDB-file warehouse, history and all, into an empty DuckLake in one snapshot,
or a DuckLake back into a new DuckDB file that `duban build`, `sql` and `status` take as a normal warehouse."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from pipelines.commands.output import say
from pipelines.contracts import identifier, star_tables, table, tables
from pipelines.errors import DubanError
from pipelines.load import ensure_schema, set_meta
from pipelines.migrate import SCHEMA_VERSION, pending_migrations, schema_version
from pipelines.targets import FileTarget, is_lake, target_for
from pipelines.targets.lake import ALIAS, LakeTarget, _literal, _verify_checks
from pipelines.working import open_error

PREFIX = "duban export-lake"
SOURCE = "export_source"  # the alias the other side of the copy is attached under
OWN_KEYS = {"schema_version", "definitions_applied", "last_build"}  # duban_meta keys each warehouse writes for itself


class ExportRefused(DubanError):
    """An export that would overwrite a warehouse, or whose source is no duban warehouse this code can copy."""


def _copied_meta(key: str) -> bool:
    """Whether a duban_meta setting travels with the data (key counters are worked out anew on each side)."""
    return key not in OWN_KEYS and not key.startswith("sequence:")


def check_source(con: duckdb.DuckDBPyConnection, label: str, database: str | None = None) -> None:
    """Refuse a database that is not a duban warehouse of this code's schema (a newer or older one included)."""
    where = f" AND database_name = {_literal(database)}" if database else ""
    held = {name for (name,) in con.execute(
        f"SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'{where}").fetchall()}
    missing = [t.name for t in tables() if t.name not in held]
    if missing:
        raise ExportRefused(f"{label} is not a duban warehouse (it lacks {', '.join(missing)}); "
                            "point it at a warehouse `duban build` wrote")
    version = schema_version(con)
    steps = pending_migrations(con)  # raises for a newer schema, or columns this code does not declare
    if version != SCHEMA_VERSION or steps:
        raise ExportRefused(f"{label} has schema version {version}, older than this duban's {SCHEMA_VERSION}; "
                            f"run `duban build --warehouse …` on it first (it migrates), then export it")


def key_counters(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, int]:
    """Sequence name → the highest key drawn from it in database: the greatest of the key column, the DuckDB
    sequence (a file) and the counter in duban_meta (a lake)."""
    prefix = f"{database}.main."
    meta = dict(con.execute(f"SELECT key, value FROM {prefix}duban_meta WHERE key LIKE 'sequence:%'").fetchall())
    held = dict(con.execute("SELECT sequence_name, last_value FROM duckdb_sequences() WHERE database_name = ?",
                            [database]).fetchall())
    counters = {}
    for t in tables():
        if t.sequence:
            (top,) = con.execute(f"SELECT max({identifier(t.primary_key[0])}) FROM {prefix}{identifier(t.name)}").fetchone()
            counters[t.sequence] = max(top or 0, int(meta.get(f"sequence:{t.sequence}", 0)), held.get(t.sequence) or 0)
    return counters


def _copy_tables(con: duckdb.DuckDBPyConnection, source: str, into: str) -> dict[str, int]:
    """Insert every star table's rows from source into into (load order), saying each; returns table → rows."""
    counts = {}
    for name in star_tables():
        columns = ", ".join(identifier(c) for c in table(name).column_names)
        con.execute(f"INSERT INTO {into}.{identifier(name)} ({columns}) SELECT {columns} FROM {source}.{identifier(name)}")
        (counts[name],) = con.execute(f"SELECT count(*) FROM {into}.{identifier(name)}").fetchone()
        say(f"{PREFIX}: {name}: {counts[name]:,} rows")
    return counts


def _summary(source: str, into: str, counts: dict[str, int], how: str) -> None:
    say(f"{PREFIX}: copied {source} into {into} {how}: " + ", ".join(f"{name} {n:,}" for name, n in counts.items()))


def _holds_data(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The star tables of the current database that have rows."""
    held = {name for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
    return [name for name in star_tables()
            if name in held and con.execute(f"SELECT count(*) FROM {identifier(name)}").fetchone()[0]]


def _refuse_full(con: duckdb.DuckDBPyConnection, lake: LakeTarget) -> None:
    """Refuse a lake whose star tables hold rows: an export only fills an empty one."""
    full = _holds_data(con)
    if full:
        raise ExportRefused(f"the DuckLake {lake.label} already holds a warehouse ({', '.join(full)} have rows); "
                            "nothing was written; export into a new, empty DuckLake")


def file_to_lake(source: FileTarget, lake: LakeTarget) -> int:
    """Copy the published file's every table into the empty lake as one snapshot, then its views (as a build makes them)."""
    if not source.exists():
        raise ExportRefused(f"no warehouse at {source.published}; give the DuckDB file to copy with --warehouse FILE")
    source.check_readable()
    try:
        with source.read() as con:
            check_source(con, str(source.published))
    except duckdb.Error as error:
        raise open_error(source.published, error) from None
    if lake.exists():
        with lake.read() as con:
            _refuse_full(con, lake)

    def body(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        _refuse_full(con, lake)  # another writer may have built meanwhile
        con.execute(f"ATTACH {_literal(str(source.published))} AS {SOURCE} (READ_ONLY)")
        counts = _copy_tables(con, f"{SOURCE}.main", f"{ALIAS}.main")
        for key, value in con.execute(f"SELECT key, value FROM {SOURCE}.main.duban_meta ORDER BY key").fetchall():
            if _copied_meta(key):
                set_meta(con, key, value)
        for name, last in key_counters(con, SOURCE).items():
            set_meta(con, f"sequence:{name}", str(last))
        _verify_checks(con)  # the CHECKs the lake cannot declare hold for the copied rows
        return counts

    message = {"run_id": None, "reports": [], "periods": [], "exported_from": str(source.published),
               "text": f"duban export-lake from {source.published}"}
    counts = lake.write(body, say, message)
    _summary(str(source.published), lake.label, counts, "in one snapshot")
    return 0


def lake_to_file(lake: LakeTarget, to: Path) -> int:
    """Write the lake's latest snapshot as a new DuckDB-file warehouse (under a temporary name, renamed at the end)."""
    if to.exists():
        raise ExportRefused(f"{to} already exists; nothing was written; give a new file name with --to")
    if not to.parent.is_dir():
        raise ExportRefused(f"the folder {to.parent} does not exist; create it or give another --to")
    if not lake.exists():
        raise ExportRefused(f"no duban warehouse in the DuckLake {lake.label}; nothing to export")
    temporary = to.with_name(f".{to.name}.export-{os.getpid()}")
    try:
        with lake.read() as con:
            check_source(con, f"the DuckLake {lake.label}", ALIAS)
            counters = key_counters(con, ALIAS)
            with duckdb.connect(str(temporary)) as out:  # the file's schema as a build makes it, keys going on
                for name, last in counters.items():
                    out.execute(f"CREATE SEQUENCE {identifier(name)} START {last + 1}")
                ensure_schema(out)
            con.execute(f"ATTACH {_literal(str(temporary))} AS {SOURCE}")
            counts = _copy_tables(con, f"{ALIAS}.main", f"{SOURCE}.main")
            for key, value in con.execute(f"SELECT key, value FROM {ALIAS}.main.duban_meta ORDER BY key").fetchall():
                if _copied_meta(key):
                    con.execute(f"DELETE FROM {SOURCE}.main.duban_meta WHERE key = ?", [key])
                    con.execute(f"INSERT INTO {SOURCE}.main.duban_meta VALUES (?, ?)", [key, value])
            con.execute(f"CHECKPOINT {SOURCE}")
            con.execute(f"DETACH {SOURCE}")
        if to.exists():
            raise ExportRefused(f"{to} appeared while exporting; nothing was written over it; give a new file name")
        os.replace(temporary, to)
    finally:
        for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
            leftover.unlink(missing_ok=True)
    _summary(lake.label, str(to), counts, "as a DuckDB file")
    return 0


def export_lake(to: str, source: str | None, warehouse: str | None, data_path: str | None) -> int:
    """`duban export-lake --to ducklake:… [--warehouse FILE]`, or `--from ducklake:… --to FILE.duckdb`."""
    if source is not None:
        if warehouse is not None:
            raise ExportRefused("give either --from ducklake:… (the lake to write out) or --warehouse FILE (the file to copy in), not both")
        if not is_lake(source):
            raise ExportRefused(f"--from names the DuckLake to write out (ducklake:postgres:… or ducklake:<path>.ducklake), not {source}")
        if is_lake(to):
            raise ExportRefused("--from and --to are both DuckLakes; --to names the new DuckDB file (e.g. warehouse/duban.duckdb)")
        return lake_to_file(target_for(source), Path(to).resolve())
    if not is_lake(to):
        raise ExportRefused(f"--to {to} is no DuckLake; to write a DuckLake out to a file give --from ducklake:… --to FILE.duckdb")
    if is_lake(warehouse):
        raise ExportRefused("--warehouse names the DuckDB file to copy; a DuckLake source goes with --from")
    file = target_for(warehouse)
    if file.is_lake:
        raise ExportRefused(f"the warehouse setting names a DuckLake ({file.label}); give the DuckDB file to copy with --warehouse FILE")
    return file_to_lake(file, target_for(to, data_path))
