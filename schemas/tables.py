"""Pandera models of the rows duban stages for each warehouse table, checked before every load.

Rows are staged for a batch of reports at once; `report_idx` says which report of the batch a row
belongs to, so a failing row refuses its own report only.
"""

from __future__ import annotations

from datetime import date, datetime

import pandera.polars as pa
import polars as pl

from pipelines.periods import FIRST_YEAR, LAST_YEAR

_PERIOD_KEY = r"^\d{4}(?:Q[1-4]|M(?:0[1-9]|1[0-2]))$"


class _Strict(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = False


class DimPeriodRow(_Strict):
    """One row per reporting period of the batch."""

    period_key: str = pa.Field(str_matches=_PERIOD_KEY, unique=True)
    year: int = pa.Field(ge=FIRST_YEAR, le=LAST_YEAR)
    quarter: int = pa.Field(nullable=True, isin=[1, 2, 3, 4])
    end_month: int = pa.Field(ge=1, le=12)
    start_date: date
    end_date: date
    year_elapsed_share: float = pa.Field(gt=0, le=1)


class DimReportRow(_Strict):
    """One row per report of the batch."""

    report_idx: int = pa.Field(ge=0, unique=True)
    source_file: str = pa.Field(str_length={"min_value": 1})
    sha256: str = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    publisher: str = pa.Field(str_length={"min_value": 1})
    period_key: str = pa.Field(str_matches=_PERIOD_KEY)
    title: str = pa.Field(nullable=True)
    encoding: str
    reader: str
    file_modified_at: datetime
    records_read: int = pa.Field(ge=0)
    accepted: int = pa.Field(ge=0)
    quarantined: int = pa.Field(ge=0)
    skipped_lines: int = pa.Field(ge=0)

    @pa.dataframe_check(name="records_reconcile")
    def _reconcile(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("records_read") == pl.col("accepted") + pl.col("quarantined"))


class DimLeaderRow(_Strict):
    """One row per publisher and leader named in the batch."""

    report_idx: int = pa.Field(ge=0)
    publisher: str
    leader_name: str = pa.Field(str_length={"min_value": 1})

    class Config:
        unique = ["report_idx", "leader_name"]


class DimDepartmentRow(_Strict):
    """One row per report and department named in it."""

    report_idx: int = pa.Field(ge=0)
    publisher: str
    department_name: str = pa.Field(str_length={"min_value": 1})

    class Config:
        unique = ["report_idx", "department_name"]


class DimTargetRow(_Strict):
    """One row per report and target: its identity and its text."""

    report_idx: int = pa.Field(ge=0)
    publisher: str
    plan_year: int = pa.Field(ge=FIRST_YEAR, le=LAST_YEAR)
    target_no: int = pa.Field(ge=1)
    target_text: str = pa.Field(str_length={"min_value": 1})
    text_normalized: str = pa.Field(str_length={"min_value": 1})

    class Config:
        unique = ["report_idx", "target_no"]


class BridgeTargetDepartmentRow(_Strict):
    """One row per report, target and responsible department, in source order; position 1 leads."""

    report_idx: int = pa.Field(ge=0)
    target_no: int = pa.Field(ge=1)
    department_name: str = pa.Field(str_length={"min_value": 1})
    position: int = pa.Field(ge=1)
    is_lead: bool

    class Config:
        unique = ["report_idx", "target_no", "position"]


def _fact_row_schema() -> pa.DataFrameSchema:
    """One row per report and target: its keys by name, and every value column of the fact's contract."""
    from pipelines.contracts import fact_value_columns, staged_column

    columns = {
        "report_idx": pa.Column(pl.Int64, pa.Check.ge(0)),
        "target_no": pa.Column(pl.Int64, pa.Check.ge(1)),
        "leader_name": pa.Column(pl.String, pa.Check.str_length(min_value=1)),
    }
    columns |= {c.name: staged_column(c) for c in fact_value_columns()}
    return pa.DataFrameSchema(columns, strict=True, unique=["report_idx", "target_no"], name="FactTargetProgressRow")


FactTargetProgressRow = _fact_row_schema()


class QuarantineRow(_Strict):
    """One row per rejected record, with where it came from and why."""

    report_idx: int = pa.Field(ge=0)
    source_line: int = pa.Field(ge=1)
    target_no_text: str = pa.Field(nullable=True)
    reason: str = pa.Field(str_length={"min_value": 1})
    column_name: str = pa.Field(nullable=True)
    check_name: str = pa.Field(nullable=True)
    failure_value: str = pa.Field(nullable=True)
    raw_cells: pl.List(pl.String)
