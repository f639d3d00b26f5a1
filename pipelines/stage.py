"""Shape one processed report into the rows each warehouse table receives, checked by pandera."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pathlib import Path

import pandera.polars as pa
import polars as pl

from pipelines.errors import ReportRefused

from pipelines.periods import Period
from pipelines.process import ProcessedReport
from schemas.tables import (
    BridgeTargetDepartmentRow,
    DimDepartmentRow,
    DimLeaderRow,
    DimPeriodRow,
    DimReportRow,
    DimTargetRow,
    FactTargetProgressRow,
    QuarantineRow,
)


@dataclass
class StagedReport:
    """Validated rows for every warehouse table from one report, keyed by natural keys."""

    period: pl.DataFrame
    report: pl.DataFrame
    leaders: pl.DataFrame
    departments: pl.DataFrame
    targets: pl.DataFrame
    bridge: pl.DataFrame
    facts: pl.DataFrame
    quarantine: pl.DataFrame


@cache
def _to_simplified() -> "opencc.OpenCC":
    import opencc

    return opencc.OpenCC("t2s")


def normalised_texts(texts: pl.Series) -> pl.Series:
    """The form in which target texts are compared: NFKC (full-width → half-width), no white space, simplified characters."""
    folded = texts.str.normalize("NFKC").str.replace_all(r"\s+", "")
    # one conversion call for the whole report: after white space removal "\n" cannot occur inside a text
    converted = _to_simplified().convert("\n".join(folded.to_list())).split("\n") if len(folded) else []
    return pl.Series(texts.name, converted, dtype=pl.String)


def stage_period_row(period_key: str) -> pl.DataFrame:
    """A period's dim_period row; one row."""
    period = Period.from_key(period_key)
    return pl.DataFrame(
        {
            "period_key": [period.key],
            "year": [period.year],
            "quarter": [period.quarter],
            "end_month": [period.end_month],
            "start_date": [period.start_date],
            "end_date": [period.end_date],
            "year_elapsed_share": [period.year_elapsed_share],
        },
        schema={
            "period_key": pl.String,
            "year": pl.Int64,
            "quarter": pl.Int64,
            "end_month": pl.Int64,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "year_elapsed_share": pl.Float64,
        },
    )


def stage_report(processed: ProcessedReport) -> pl.DataFrame:
    """The report's own row with its counts; one row."""
    report = processed.report
    return pl.DataFrame(
        {
            "source_file": [report.source_file],
            "sha256": [report.sha256],
            "publisher": [report.publisher],
            "period_key": [report.period.key],
            "title": [report.title],
            "encoding": [report.encoding],
            "reader": [report.reader],
            "file_modified_at": [report.modified_at],
            "records_read": [processed.records_read],
            "accepted": [processed.accepted.height],
            "quarantined": [processed.quarantine.height],
            "skipped_lines": [processed.skipped_lines],
        },
        schema_overrides={"title": pl.String, "file_modified_at": pl.Datetime("us")},
    )


def stage(processed: ProcessedReport) -> StagedReport:
    """Every table's rows for one report (grain per frame: see each pandera model), validated."""
    accepted = processed.accepted
    publisher = processed.report.publisher
    plan_year = processed.report.period.year
    leaders = accepted.select(pl.lit(publisher).alias("publisher"), "leader_name").unique(maintain_order=True)
    departments = (
        accepted.select(pl.col("departments").explode().alias("department_name"))
        .unique(maintain_order=True)
        .select(pl.lit(publisher).alias("publisher"), "department_name")
    )
    targets = accepted.select(
        pl.lit(publisher).alias("publisher"),
        pl.lit(plan_year, pl.Int64).alias("plan_year"),
        "target_no",
        "target_text",
    ).with_columns(text_normalized=normalised_texts(accepted["target_text"]))
    bridge = (
        accepted.select("target_no", pl.col("departments").alias("department_name"))
        .with_columns(position=pl.int_ranges(1, pl.col("department_name").list.len() + 1, dtype=pl.Int64))
        .explode(["department_name", "position"])
        .with_columns(is_lead=pl.col("position") == 1)
    )
    facts = accepted.select(
        "target_no", "leader_name", "target_text", "deadline_text", "deadline_date", "progress_text", "on_schedule", "source_line"
    )
    path = processed.report.path
    return StagedReport(
        period=_checked(DimPeriodRow, stage_period_row(processed.report.period.key), path),
        report=_checked(DimReportRow, stage_report(processed), path),
        leaders=_checked(DimLeaderRow, leaders, path),
        departments=_checked(DimDepartmentRow, departments, path),
        targets=_checked(DimTargetRow, targets, path),
        bridge=_checked(BridgeTargetDepartmentRow, bridge, path),
        facts=_checked(FactTargetProgressRow, facts, path),
        quarantine=_checked(QuarantineRow, processed.quarantine, path),
    )


def _checked(model: type[pa.DataFrameModel], frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """The frame if it passes the table's model (all failures collected); else the report is refused."""
    try:
        return model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases.head(5).select("column", "check", "failure_case", "index").rows()
        listed = "; ".join(f"{column} {check} value {value!r} (row {index})" for column, check, value, index in cases)
        raise ReportRefused(path, f"rows staged for the warehouse fail {model.__name__}: {listed}") from None
