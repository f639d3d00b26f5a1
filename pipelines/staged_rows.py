"""The pandera model of each table's staged rows, derived from its contract (schemas/tables/<name>.toml).

Rows are staged for a batch of reports at once; `report_idx` says which report of the batch a row
belongs to, so a failing row refuses its own report only.
"""

from __future__ import annotations

from functools import cache

import pandera.polars as pa
import polars as pl

from pipelines.contracts import Column, ContractError, Table, staged_columns, table

POLARS_TYPES = {"VARCHAR": pl.String, "INTEGER": pl.Int64, "BIGINT": pl.Int64, "DATE": pl.Date, "BOOLEAN": pl.Boolean,
                "DOUBLE": pl.Float64, "TIMESTAMP": pl.Datetime("us"), "VARCHAR[]": pl.List(pl.String)}
REPORT_IDX = "report_idx"


def _column_checks(column: Column) -> list[pa.Check]:
    checks = []
    if column.min_length is not None:
        checks.append(pa.Check.str_length(min_value=column.min_length))
    if column.matches is not None:
        checks.append(pa.Check.str_matches(column.matches))
    if column.ge is not None:
        checks.append(pa.Check.ge(column.ge))
    if column.gt is not None:
        checks.append(pa.Check.gt(column.gt))
    if column.le is not None:
        checks.append(pa.Check.le(column.le))
    if column.isin:
        checks.append(pa.Check.isin(list(column.isin)))
    return checks


def staged_column(column: Column, unique: bool = False) -> pa.Column:
    """The pandera column that checks a staged column (as staged_columns() gives it)."""
    if column.type not in POLARS_TYPES:
        raise ContractError(f"column {column.name}: type {column.type} has no staged type; add it to POLARS_TYPES")
    return pa.Column(POLARS_TYPES[column.type], checks=_column_checks(column), nullable=not column.not_null, unique=unique)


def _row_check(name: str, sql: str) -> pa.Check:
    expression = pl.sql_expr(sql)
    return pa.Check(lambda data: data.lazyframe.select(expression), name=name)


def model_name(t: Table) -> str:
    """The staged model's name: dim_report → DimReportRow."""
    return "".join(part.capitalize() for part in t.name.split("_")) + "Row"


@cache
def staged_model(name: str) -> pa.DataFrameSchema:
    """The pandera model of one table's staged rows: report_idx (if by report), then every staged column, strict."""
    t = table(name)
    if t.staged is None:
        raise ContractError(f"schemas/tables/{name}.toml has no [staged] section: duban stages no rows for {name}")
    single = {u[0] for u in t.staged.unique if len(u) == 1}
    together = [list(u) for u in t.staged.unique if len(u) > 1]
    if len(together) > 1:
        raise ContractError(f"schemas/tables/{name}.toml: [staged] unique may list one set of several columns, not {len(together)}")
    columns = {REPORT_IDX: pa.Column(pl.Int64, pa.Check.ge(0), unique=REPORT_IDX in single)} if t.staged.by_report else {}
    for column in staged_columns(t):
        columns[column.name] = staged_column(column, unique=column.name in single)
    return pa.DataFrameSchema(
        columns,
        checks=[_row_check(check, sql) for check, sql in t.staged.checks],
        strict=True,
        coerce=False,
        unique=together[0] if together else None,
        name=model_name(t),
        description=t.staged.grain,
    )
