"""`duban sql`: run one query read-only against the published warehouse and print a readable table."""

from __future__ import annotations

import json
import re
from datetime import date, datetime

import duckdb

from pipelines.errors import DubanError
from pipelines.working import open_error
from pipelines.sqlguard import CATALOG_AND_VALUES, FILE_READERS
from pipelines.summary import format_table

EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(ANALY[SZ]E\s+)?", re.IGNORECASE)
LEADING_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)+", re.S)
PIVOT = re.compile(r"(?i)(un)?pivot\b")
FUNCTION_NAME = re.compile(r'"function_name":"([^"]*)"')
READ_ONLY = "duban sql is read-only"
BUILD = "change data through `duban build`"


class NoWarehouseError(DubanError):
    """There is no published warehouse file at the given path yet."""


class RefusedStatement(DubanError):
    """The query is not a plain SELECT on the warehouse: it would write, change settings or reach outside."""


def _check(con: duckdb.DuckDBPyConnection, sql: str, allow_files: bool) -> None:
    """Raise RefusedStatement unless every statement is a SELECT (or EXPLAIN of one) calling only allowed
    table functions."""
    allowed = set(CATALOG_AND_VALUES) | (set(FILE_READERS) if allow_files else set())
    table_functions = {
        name
        for (name,) in con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_type IN ('table', 'table_macro')"
        ).fetchall()
    }
    statements = con.extract_statements(sql)
    for statement in statements:
        text = statement.query
        if statement.type == duckdb.StatementType.EXPLAIN:
            text = EXPLAIN.sub("", text, count=1)
            inner = con.extract_statements(text)
            if len(inner) != 1 or inner[0].type != duckdb.StatementType.SELECT:
                raise RefusedStatement(f"refused EXPLAIN of something other than a SELECT: {READ_ONLY}; {BUILD}")
        elif statement.type != duckdb.StatementType.SELECT:
            if not text.strip() and PIVOT.match(LEADING_COMMENTS.sub("", sql)):  # a bare PIVOT first creates a type
                raise RefusedStatement("refused a bare PIVOT (it creates a type first): write it as SELECT … FROM t "
                                       "PIVOT (aggregate FOR column IN (values…)), which duban sql runs")
            # INSTALL and LOAD share one statement type: name the word the reader wrote, after any comments
            keyword = (LEADING_COMMENTS.sub("", text).split() or [statement.type.name])[0].upper()
            raise RefusedStatement(f"refused {keyword}: {READ_ONLY} and runs only SELECT queries; {BUILD}")
        (serialized,) = con.execute("SELECT json_serialize_sql($1::VARCHAR)", [text]).fetchone()
        for name in FUNCTION_NAME.findall(serialized):
            name = name.lower()
            if name in FILE_READERS and not allow_files:
                raise RefusedStatement(f"refused {name}(): reading files needs --allow-files")
            if name.startswith("quack") or (name in table_functions and name not in allowed):
                raise RefusedStatement(f"refused {name}(): duban sql only reads the warehouse (and files with --allow-files)")
    if len(statements) > 1:  # only the last result would be shown: say so rather than drop the others silently
        raise RefusedStatement(f"refused: duban sql runs one query at a time, and this text holds {len(statements)}")


def _shown(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value).replace("\n", "⏎")


def _one_line(error: duckdb.Error, allow_files: bool) -> str:
    message = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
    if isinstance(error, duckdb.PermissionException) and not allow_files:
        message += "; reading files needs --allow-files"
    if "read-only" in message.lower():
        message += " (duban sql opens the warehouse read-only; change data through `duban build`)"
    return message


def run_query(warehouse, sql: str, max_rows: int = 200, allow_files: bool = False) -> str:
    """The query's result as an aligned table (at most max_rows rows, then a count of the rest).

    The warehouse is opened read-only with the configuration locked; only SELECT statements run, and files
    are out of reach unless allow_files (which lets a query read them, never write). warehouse is a file or a
    target; a DuckLake is attached read-only and its latest snapshot read (an older one with AT (VERSION => n)).
    """
    from pipelines.targets import target_for

    target = target_for(warehouse)
    if not target.exists():
        raise NoWarehouseError(f"no warehouse at {warehouse}; run `duban build` first or pass --warehouse FILE")
    config = {
        "enable_external_access": allow_files,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "lock_configuration": True,
    }
    try:
        con = target.read(config)
    except duckdb.Error as error:  # damaged, or held by another program: named with what to do
        raise open_error(warehouse, error) from None
    with con:
        try:
            _check(con, sql, allow_files)
            cursor = con.execute(sql)
        except duckdb.Error as error:
            raise DubanError(_one_line(error, allow_files)) from None
        if cursor.description is None:
            return "(no result)"
        header = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(max_rows + 1)
        rest = len(rows) - max_rows
        if rest > 0:
            rows = rows[:max_rows]
            rest += len(cursor.fetchall())
    table = format_table(header, [[_shown(v) for v in row] for row in rows])
    noun = "row" if len(rows) == 1 else "rows"
    footer = f"({len(rows)} {noun}{f', {rest} more not shown' if rest > 0 else ''})"
    return f"{table}\n{footer}"
