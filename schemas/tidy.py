"""Pandera model of a tidy record: one target in one report, typed and checked before it may load."""

from __future__ import annotations

from datetime import date

import pandera.polars as pa
import polars as pl


class TidyRecord(pa.DataFrameModel):
    """One row per target read from one report; rows that fail go to quarantine, not to the warehouse."""

    source_line: int = pa.Field(ge=1)
    target_no: int = pa.Field(ge=1, nullable=False)
    leader_name: str = pa.Field(str_length={"min_value": 1})
    target_text: str = pa.Field(str_length={"min_value": 1})
    deadline_text: str
    deadline_date: date = pa.Field(nullable=True)
    progress_text: str
    on_schedule_text: str = pa.Field(str_length={"min_value": 1})  # the flag as printed; empty → quarantine
    progress_status: str = pa.Field(isin=["completed", "ahead", "on_schedule", "behind", "other"])
    on_schedule: bool = pa.Field(nullable=True)
    departments: pl.List(pl.String)
    lead_department: str = pa.Field(nullable=True)

    @pa.check("departments", name="at_least_one_department")
    def _at_least_one_department(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).list.len() > 0)

    class Config:
        strict = False
        coerce = False
