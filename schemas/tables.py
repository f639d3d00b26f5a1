"""Pandera models of the rows duban stages for each warehouse table, checked before every load."""

from __future__ import annotations

from datetime import date, datetime

import pandera.polars as pa
import polars as pl

_PERIOD_KEY = r"^\d{4}(?:Q[1-4]|M(?:0[1-9]|1[0-2]))$"


class _Strict(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = False


class DimPeriodRow(_Strict):
    """One row per reporting period."""

    period_key: str = pa.Field(str_matches=_PERIOD_KEY, unique=True)
    year: int = pa.Field(ge=1990, le=2100)
    quarter: int = pa.Field(nullable=True, isin=[1, 2, 3, 4])
    end_month: int = pa.Field(ge=1, le=12)
    start_date: date
    end_date: date
    year_elapsed_share: float = pa.Field(gt=0, le=1)


class DimReportRow(_Strict):
    """One row per ingested file."""

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
    """One row per leader named by a publisher."""

    publisher: str
    leader_name: str = pa.Field(str_length={"min_value": 1}, unique=True)


class DimDepartmentRow(_Strict):
    """One row per department named by a publisher."""

    publisher: str
    department_name: str = pa.Field(str_length={"min_value": 1}, unique=True)


class DimTargetRow(_Strict):
    """One row per target in the report: its identity and its text."""

    publisher: str
    plan_year: int = pa.Field(ge=1990, le=2100)
    target_no: int = pa.Field(ge=1, unique=True)
    target_text: str = pa.Field(str_length={"min_value": 1})
    text_normalized: str = pa.Field(str_length={"min_value": 1})


class BridgeTargetDepartmentRow(_Strict):
    """One row per target and responsible department, in source order; position 1 leads."""

    target_no: int = pa.Field(ge=1)
    department_name: str = pa.Field(str_length={"min_value": 1})
    position: int = pa.Field(ge=1)
    is_lead: bool

    class Config:
        unique = ["target_no", "position"]


class FactTargetProgressRow(_Strict):
    """One row per target in the report's period."""

    target_no: int = pa.Field(ge=1, unique=True)
    leader_name: str = pa.Field(str_length={"min_value": 1})
    target_text: str = pa.Field(str_length={"min_value": 1})
    deadline_text: str
    deadline_date: date = pa.Field(nullable=True)
    progress_text: str
    on_schedule: bool
    source_line: int = pa.Field(ge=1)


class QuarantineRow(_Strict):
    """One row per rejected record, with where it came from and why."""

    source_line: int = pa.Field(ge=1)
    target_no_text: str = pa.Field(nullable=True)
    reason: str = pa.Field(str_length={"min_value": 1})
    column_name: str = pa.Field(nullable=True)
    check_name: str = pa.Field(nullable=True)
    failure_value: str = pa.Field(nullable=True)
    raw_cells: pl.List(pl.String)
