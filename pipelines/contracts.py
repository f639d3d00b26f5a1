"""The warehouse tables' contracts (schemas/tables/<name>.toml) and what is derived from them.

One file per table holds its grain sentence, columns (type, NOT NULL, CHECK, reference, description,
how to fill it in older rows, how staged rows carry and check it), primary key, unique keys, key
sequence and the staged rows' grain, uniqueness and row checks. From them come the DDL, the
COMMENTs, the key and foreign-key checks, the table order, the columns a load inserts by name and
the pandera model of every table's staged rows (pipelines/staged_rows.py).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Column:
    """One column of a warehouse table."""

    name: str
    type: str
    description: str
    not_null: bool = False
    check: str | None = None
    references: str | None = None  # "table.column"
    backfill: str | None = None  # SQL over the table's older columns, to fill the column in rows loaded before it existed
    isin: tuple | None = None  # allowed values: a CHECK in the DDL and a pandera check of staged rows
    # checks of staged rows only (pandera), not in the DDL
    min_length: int | None = None  # text at least this long
    ge: float | None = None  # number at least this
    gt: float | None = None  # number above this
    le: float | None = None  # number at most this
    matches: str | None = None  # text matching this regular expression entirely
    staged_not_null: bool = False  # staged rows must fill it although the table allows NULL
    # how staged rows carry it
    staged: bool = True  # false: staged rows do not carry it, the load fills it
    staged_as: str | None = None  # "table.column": staged rows carry that column in this key's place; the load looks the key up
    staged_from: str | None = None  # the tidy record's column it comes from, when the name differs


@dataclass(frozen=True)
class Staged:
    """The rows staged for a table before a load: their grain, uniqueness within a batch and row checks."""

    grain: str
    by_report: bool = False  # rows carry report_idx: a failing row refuses its own report only
    unique: tuple[tuple[str, ...], ...] = ()  # staged column names unique together within a batch
    checks: tuple[tuple[str, str], ...] = ()  # (name, SQL expression over one staged row that must be true)


@dataclass(frozen=True)
class Table:
    """One warehouse table as its contract describes it."""

    name: str
    position: int
    comment: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    sequence: str | None = None
    staged: Staged | None = None

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


class ContractError(ValueError):
    """A contract file that duban cannot read."""


def identifier(name: str) -> str:
    """A name quoted as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _known(where: str, spec: dict, cls: type) -> None:
    unknown = set(spec) - {f.name for f in fields(cls)}
    if unknown:
        known = ", ".join(f.name for f in fields(cls))
        raise ContractError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; a {cls.__name__.lower()} knows {known}")


def _column(where: str, spec: dict) -> Column:
    _known(f"{where}, column {spec.get('name')}", spec, Column)
    return Column(**{**spec, **({"isin": tuple(spec["isin"])} if "isin" in spec else {})})


def _staged(where: str, spec: dict | None) -> Staged | None:
    if spec is None:
        return None
    _known(f"{where}, [staged]", spec, Staged)
    return Staged(
        grain=spec["grain"],
        by_report=spec.get("by_report", False),
        unique=tuple(tuple(u) for u in spec.get("unique", ())),
        checks=tuple(spec.get("checks", {}).items()),
    )


def _table(where: str, spec: dict) -> Table:
    _known(where, spec, Table)
    return Table(
        name=spec["name"],
        position=spec["position"],
        comment=spec["comment"],
        columns=tuple(_column(where, column) for column in spec["columns"]),
        primary_key=tuple(spec.get("primary_key", ())),
        unique=tuple(tuple(u) for u in spec.get("unique", ())),
        sequence=spec.get("sequence"),
        staged=_staged(where, spec.get("staged")),
    )


@cache
def tables() -> tuple[Table, ...]:
    """Every table's contract, in load order (dimensions before the facts that refer to them)."""
    found = []
    for entry in resources.files("schemas").joinpath("tables").iterdir():
        if entry.name.endswith(".toml"):
            found.append(_table(f"schemas/tables/{entry.name}", tomllib.loads(entry.read_text(encoding="utf-8"))))
    return tuple(sorted(found, key=lambda t: t.position))


def table(name: str) -> Table:
    return next(t for t in tables() if t.name == name)


def star_tables() -> list[str]:
    """The star schema's tables in load order (duban_meta, which is no part of it, left out)."""
    return [t.name for t in tables() if t.name != "duban_meta"]


def _column_ddl(column: Column) -> str:
    parts = [f"    {identifier(column.name)} {column.type}"]
    if column.not_null:
        parts.append("NOT NULL")
    if column.check:
        parts.append(f"CHECK ({column.check})")
    if column.isin:
        values = ", ".join("'" + str(v).replace("'", "''") + "'" for v in column.isin)
        parts.append(f"CHECK ({identifier(column.name)} IN ({values}))")
    return " ".join(parts)


def table_ddl(t: Table, lake: bool = False) -> str:
    """CREATE TABLE IF NOT EXISTS for one contract (references are not declared: see foreign_keys()).

    With lake, the DuckLake flavour: DuckLake takes NOT NULL but no CHECK, PRIMARY KEY or UNIQUE, so
    those are left out; the lake target verifies the checks (row_checks()) and the unique_keys asset
    check the keys after each load.
    """
    lines = [_column_ddl(replace(c, check=None, isin=None) if lake else c) for c in t.columns]
    if lake:
        return f"CREATE TABLE IF NOT EXISTS {identifier(t.name)} (\n" + ",\n".join(lines) + "\n);"
    if t.primary_key:
        lines.append(f"    PRIMARY KEY ({', '.join(map(identifier, t.primary_key))})")
    lines += [f"    UNIQUE ({', '.join(map(identifier, u))})" for u in t.unique]
    return f"CREATE TABLE IF NOT EXISTS {identifier(t.name)} (\n" + ",\n".join(lines) + "\n);"


def tables_ddl(lake: bool = False) -> str:
    """The warehouse's key sequences and tables, as SQL (with lake: the DuckLake flavour, whose keys come from duban_meta)."""
    sequences = [] if lake else [f"CREATE SEQUENCE IF NOT EXISTS {identifier(t.sequence)} START 1;" for t in tables() if t.sequence]
    return "\n".join(sequences) + "\n\n" + "\n\n".join(table_ddl(t, lake) for t in tables()) + "\n"


def sequences() -> list[str]:
    """The key sequences the tables draw their keys from."""
    return [t.sequence for t in tables() if t.sequence]


def row_checks() -> list[tuple[str, str, str]]:
    """(table, column, SQL condition) for every CHECK and isin of the contracts: what a DuckLake cannot declare."""
    found = []
    for t in tables():
        for c in t.columns:
            if c.check:
                found.append((t.name, c.name, c.check))
            if c.isin:
                values = ", ".join("'" + str(v).replace("'", "''") + "'" for v in c.isin)
                found.append((t.name, c.name, f"{identifier(c.name)} IN ({values})"))
    return found


def ddl(lake: bool = False) -> str:
    """The whole warehouse as SQL: sequences, tables, then views in creation order; the golden file schemas/warehouse.ddl.sql holds it.

    With lake, the DuckLake flavour of the same contracts (no sequences, CHECK, PRIMARY KEY or UNIQUE).
    """
    from pipelines.views import views_ddl

    header = (
        "-- Generated from schemas/tables/*.toml and schemas/views/*.sql by pipelines/contracts.py and views.py;\n"
        "-- do not edit (tests compare it). References between tables are not FOREIGN KEYs (DuckDB checks them\n"
        "-- too eagerly to replace a report in one transaction); the foreign_keys asset check verifies every one\n"
        "-- after each load.\n"
    )
    return header + tables_ddl(lake) + "\n" + views_ddl()


def rows_shape() -> str:
    """What the table contracts say that shapes rows (types, keys, checks, staging, backfill), descriptions left out, as text."""
    shapes = []
    for t in tables():
        shape = asdict(t)
        del shape["comment"]
        for column in shape["columns"]:
            del column["description"]
        if shape["staged"]:
            del shape["staged"]["grain"]
        shapes.append(shape)
    return json.dumps(shapes, sort_keys=True, ensure_ascii=False)


def unique_keys() -> dict[str, list[str]]:
    """Table → its primary key columns."""
    return {t.name: list(t.primary_key) for t in tables() if t.primary_key}


def foreign_keys() -> list[tuple[str, str, str, str]]:
    """(child table, child column, parent table, parent column) for every column that refers to another table."""
    return [
        (t.name, c.name, *c.references.split("."))
        for t in tables()
        for c in t.columns
        if c.references
    ]


def descriptions() -> dict[str, tuple[str, dict[str, str]]]:
    """Table → (its comment, column → description)."""
    return {t.name: (t.comment, {c.name: c.description for c in t.columns}) for t in tables()}


def staged_columns(t: Table) -> list[Column]:
    """The columns a staged row of the table carries, in contract order, report_idx aside, each NOT NULL as staged rows hold it.

    A key drawn from the table's sequence and a column marked `staged = false` are left out (the load
    fills them); a key with `staged_as` is replaced by the referenced table's column it is looked up by.
    A staged value is NOT NULL when the column is `not_null`, `staged_not_null` or in the primary key.
    """
    carried = []
    for column in t.columns:
        if not column.staged or (t.sequence and column.name in t.primary_key):
            continue
        owner = t
        if column.staged_as:
            parent, name = column.staged_as.split(".")
            owner, column = table(parent), table(parent).column(name)
        required = column.not_null or column.staged_not_null or column.name in owner.primary_key
        carried.append(replace(column, not_null=required))
    return carried


def fact_value_columns() -> list[Column]:
    """The fact's columns taken from the tidy record (by name or `staged_from`): all staged ones but the looked-up keys."""
    fact = table("fact_target_progress")
    return [c for c in fact.columns if c.staged and not c.staged_as]
