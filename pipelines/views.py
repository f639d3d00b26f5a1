"""The analysts' views, one file each (schemas/views/<view_name>.sql), and what is derived from them.

A view file opens with a block of `--` lines that, without their `-- `, are TOML: `comment` (the
view's grain sentence) and a `[columns]` table of column descriptions (a column not described there
takes its description from schemas/catalog.toml's shared [columns]). The rest of the file is the
view's query: one SELECT. The view's name is the file's name. From these files come the CREATE VIEW
statements, in an order derived from which view reads which, and the views' COMMENTs.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from graphlib import CycleError, TopologicalSorter
from importlib import resources

from pipelines.contracts import ContractError, identifier

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class View:
    """One analyst view as its file describes it."""

    name: str
    comment: str
    columns: dict[str, str]  # column → its own description
    query: str


def _read_names(node) -> set[str]:
    """Every table or view name a parsed query (DuckDB's JSON syntax tree) reads, CTE names included."""
    found = set()
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and "table_name" in node:
            found.add(node["table_name"])
        for value in node.values():
            found |= _read_names(value)
    elif isinstance(node, list):
        for value in node:
            found |= _read_names(value)
    return found


@cache
def _parser():
    """One in-memory DuckDB for parsing the view files: opening one per view cost most of the DDL's making."""
    import duckdb

    return duckdb.connect()


def reads(view: View) -> frozenset[str]:
    """The tables and views a view's query reads (CTE names included), as DuckDB's parser finds them."""
    where = f"schemas/views/{view.name}.sql"
    tree = json.loads(_parser().cursor().execute("SELECT json_serialize_sql(?)", [view.query]).fetchone()[0])
    if tree.get("error"):
        raise ContractError(f"{where}: the query does not parse: {tree.get('error_message')}")
    if len(tree["statements"]) != 1:
        raise ContractError(f"{where}: the file must hold one SELECT, not {len(tree['statements'])} statements")
    return frozenset(_read_names(tree["statements"][0]))


def parse_view(name: str, text: str) -> View:
    """A view from its file's name (without .sql) and text: the leading TOML comment block, then the query."""
    where = f"schemas/views/{name}.sql"
    if not _NAME.match(name):
        raise ContractError(f"{where}: a view's file name must be lower-case letters, digits and _ (it is the view's name)")
    lines = text.splitlines()
    head = 0
    while head < len(lines) and lines[head].startswith("--"):
        head += 1
    block = "\n".join(line[3:] if line.startswith("-- ") else line[2:] for line in lines[:head])
    try:
        spec = tomllib.loads(block)
    except tomllib.TOMLDecodeError as error:
        raise ContractError(f"{where}: the leading -- block is not TOML ({error}); see pipelines/views.py") from None
    unknown = set(spec) - {"comment", "columns"}
    if unknown or not isinstance(spec.get("comment"), str):
        raise ContractError(f"{where}: the leading -- block needs `comment = \"…; one row per …\"` and may hold "
                            f"[columns]; it holds {', '.join(sorted(spec)) or 'nothing'}")
    query = "\n".join(lines[head:]).strip().removesuffix(";").rstrip()
    if not query:
        raise ContractError(f"{where}: no query after the leading -- block")
    return View(name, spec["comment"], dict(spec.get("columns", {})), query)


def _in_creation_order(found: dict[str, View]) -> tuple[View, ...]:
    """The views ordered so that each comes after the views it reads; ties by name."""
    graph = TopologicalSorter({name: {r for r in reads(view) if r in found and r != name} for name, view in found.items()})
    try:
        graph.prepare()
    except CycleError as error:
        raise ContractError(f"schemas/views/: views read each other in a circle: {' → '.join(error.args[1])}") from None
    ordered = []
    while graph.is_active():
        ready = sorted(graph.get_ready())
        ordered += ready
        graph.done(*ready)
    return tuple(found[name] for name in ordered)


@cache
def view_files() -> tuple[View, ...]:
    """Every view of schemas/views/ as its file says, by name (their queries are not parsed: see views())."""
    found = []
    for entry in resources.files("schemas").joinpath("views").iterdir():
        if entry.name.endswith(".sql"):
            found.append(parse_view(entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    return tuple(sorted(found, key=lambda v: v.name))


@cache
def views() -> tuple[View, ...]:
    """Every view of schemas/views/, in creation order (a view after the views it reads)."""
    return _in_creation_order({v.name: v for v in view_files()})


def view_ddl(view: View) -> str:
    """CREATE OR REPLACE VIEW for one view file."""
    return f"CREATE OR REPLACE VIEW {identifier(view.name)} AS\n{view.query};"


def views_ddl() -> str:
    """Every view's CREATE OR REPLACE VIEW, in creation order, as SQL."""
    return "\n\n".join(view_ddl(v) for v in views()) + "\n"


def view_names() -> list[str]:
    """The views' names in creation order."""
    return [v.name for v in views()]
