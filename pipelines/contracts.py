"""The warehouse tables' contracts (schemas/tables/<name>.toml) and what is derived from them.

One file per table holds its grain sentence, columns (type, NOT NULL, CHECK, reference, description,
how to fill it in older rows), primary key, unique keys and key sequence. From them come the DDL, the
COMMENTs, the key and foreign-key checks, the table order and the columns a load inserts by name.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
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
    min_length: int | None = None  # pandera check of staged rows (text)
    ge: int | None = None  # pandera check of staged rows (numbers)
    staged_from: str | None = None  # the tidy record's column it comes from, when the name differs


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

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@cache
def tables() -> tuple[Table, ...]:
    """Every table's contract, in load order (dimensions before the facts that refer to them)."""
    found = []
    for entry in resources.files("schemas").joinpath("tables").iterdir():
        if not entry.name.endswith(".toml"):
            continue
        spec = tomllib.loads(entry.read_text(encoding="utf-8"))
        found.append(
            Table(
                name=spec["name"],
                position=spec["position"],
                comment=spec["comment"],
                columns=tuple(
                    Column(**{**column, **({"isin": tuple(column["isin"])} if "isin" in column else {})})
                    for column in spec["columns"]
                ),
                primary_key=tuple(spec.get("primary_key", ())),
                unique=tuple(tuple(u) for u in spec.get("unique", ())),
                sequence=spec.get("sequence"),
            )
        )
    return tuple(sorted(found, key=lambda t: t.position))


def table(name: str) -> Table:
    return next(t for t in tables() if t.name == name)


def star_tables() -> list[str]:
    """The star schema's tables in load order (duban_meta, which is no part of it, left out)."""
    return [t.name for t in tables() if t.name != "duban_meta"]


def _column_ddl(column: Column) -> str:
    parts = [f"    {_identifier(column.name)} {column.type}"]
    if column.not_null:
        parts.append("NOT NULL")
    if column.check:
        parts.append(f"CHECK ({column.check})")
    if column.isin:
        values = ", ".join("'" + str(v).replace("'", "''") + "'" for v in column.isin)
        parts.append(f"CHECK ({_identifier(column.name)} IN ({values}))")
    return " ".join(parts)


def table_ddl(t: Table) -> str:
    """CREATE TABLE IF NOT EXISTS for one contract (references are not declared: see foreign_keys())."""
    lines = [_column_ddl(c) for c in t.columns]
    if t.primary_key:
        lines.append(f"    PRIMARY KEY ({', '.join(map(_identifier, t.primary_key))})")
    lines += [f"    UNIQUE ({', '.join(map(_identifier, u))})" for u in t.unique]
    return f"CREATE TABLE IF NOT EXISTS {_identifier(t.name)} (\n" + ",\n".join(lines) + "\n);"


def ddl() -> str:
    """The warehouse's tables and key sequences, as SQL; the golden file schemas/warehouse.ddl.sql holds it."""
    header = (
        "-- Generated from schemas/tables/*.toml by pipelines/contracts.py; do not edit (tests compare it).\n"
        "-- References between tables are not FOREIGN KEYs (DuckDB checks them too eagerly to replace a report\n"
        "-- in one transaction); the foreign_keys asset check verifies every one after each load.\n"
    )
    sequences = [f"CREATE SEQUENCE IF NOT EXISTS {_identifier(t.sequence)} START 1;" for t in tables() if t.sequence]
    return header + "\n".join(sequences) + "\n\n" + "\n\n".join(table_ddl(t) for t in tables()) + "\n"


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


POLARS_TYPES = {"VARCHAR": "String", "INTEGER": "Int64", "BIGINT": "Int64", "DATE": "Date", "BOOLEAN": "Boolean",
                "DOUBLE": "Float64", "TIMESTAMP": "Datetime"}
FACT_KEYS = ("target_key", "period_key", "report_key", "leader_key")


def fact_value_columns() -> list[Column]:
    """The fact's columns other than its keys: what a staged fact row carries besides report_idx, target_no and leader_name."""
    return [c for c in table("fact_target_progress").columns if c.name not in FACT_KEYS]


def staged_column(column: Column):
    """The pandera column that checks staged rows of a contract column."""
    import pandera.polars as pa
    import polars as pl

    checks = []
    if column.min_length is not None:
        checks.append(pa.Check.str_length(min_value=column.min_length))
    if column.ge is not None:
        checks.append(pa.Check.ge(column.ge))
    if column.isin:
        checks.append(pa.Check.isin(list(column.isin)))
    return pa.Column(getattr(pl, POLARS_TYPES[column.type]), checks=checks, nullable=not column.not_null)
