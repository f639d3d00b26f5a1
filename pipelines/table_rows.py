"""Shape processed reports into the rows each warehouse table receives, checked by pandera as one batch."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache

import pandera.polars as pa
import polars as pl

from pipelines.contracts import fact_value_columns
from pipelines.frames import keyed_concat
from pipelines.periods import Period
from pipelines.process import ProcessedReport
from pipelines.staged_rows import staged_model


@dataclass
class TableRows:
    """Validated rows for every warehouse table from a batch of reports; report_idx ties rows to reports."""

    periods: pl.DataFrame
    reports: pl.DataFrame
    leaders: pl.DataFrame
    departments: pl.DataFrame
    targets: pl.DataFrame
    bridge: pl.DataFrame
    facts: pl.DataFrame
    quarantine: pl.DataFrame

    def only(self, report_indices: list[int]) -> "TableRows":
        """The same batch restricted to some of its reports."""
        keep = pl.col("report_idx").is_in(report_indices)
        parts = {f.name: getattr(self, f.name) for f in fields(self)}
        return TableRows(**{n: (frame if n == "periods" else frame.filter(keep)) for n, frame in parts.items()})


@cache
def _to_simplified() -> "opencc.OpenCC":
    import opencc

    return opencc.OpenCC("t2s")


def normalised_texts(texts: pl.Series) -> pl.Series:
    """The form in which target texts are compared: NFKC (full-width → half-width), no white space, simplified characters."""
    folded = texts.str.normalize("NFKC").str.replace_all(r"\s+", "")
    # one conversion call for the whole batch: after white space removal "\n" cannot occur inside a text
    converted = _to_simplified().convert("\n".join(folded.to_list())).split("\n") if len(folded) else []
    return pl.Series(texts.name, converted, dtype=pl.String)


def period_row(period_key: str) -> pl.DataFrame:
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


def _report_rows(batch: list[ProcessedReport]) -> pl.DataFrame:
    """One row per report of the batch with its counts."""
    return pl.DataFrame(
        [
            {
                "report_idx": idx,
                "source_file": p.report.source_file,
                "sha256": p.report.sha256,
                "publisher": p.report.publisher,
                "period_key": p.report.period.key,
                "title": p.report.title,
                "encoding": p.report.encoding,
                "reader": p.report.reader,
                "file_modified_at": p.report.modified_at,
                "records_read": p.records_read,
                "accepted": p.accepted.height,
                "quarantined": p.quarantine.height,
                "skipped_lines": p.skipped_lines,
            }
            for idx, p in enumerate(batch)
        ],
        schema_overrides={"title": pl.String, "file_modified_at": pl.Datetime("us")},
    )


def _tagged(frames: list[pl.DataFrame], batch: list[ProcessedReport]) -> pl.DataFrame:
    """Concatenate per-report frames, each row with its report_idx, publisher and plan year."""
    reports = pl.DataFrame(
        {
            "report_idx": range(len(batch)),
            "publisher": [p.report.publisher for p in batch],
            "plan_year": [p.report.period.year for p in batch],
        },
        schema={"report_idx": pl.Int64, "publisher": pl.String, "plan_year": pl.Int64},
    )
    rows = keyed_concat(frames, pl.int_range(len(frames), dtype=pl.Int64, eager=True).alias("report_idx"))
    return rows.join(reports, on="report_idx", how="left", maintain_order="left")


def _failing_reports(model: pa.DataFrameSchema, frame: pl.DataFrame) -> dict[int, str]:
    """report_idx → reason for every report with a row that fails the table's model (all failures collected)."""
    try:
        model.validate(frame, lazy=True)
        return {}
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    if cases["index"].is_null().any():  # the frame as a whole (a column or its type), not a row, is wrong
        wrong = cases.filter(pl.col("index").is_null())
        found = "; ".join(
            f"{row.get('column') or '?'}: {row.get('check')} (found {row.get('failure_case')})"
            for row in wrong.select([c for c in ("column", "check", "failure_case") if c in wrong.columns]).to_dicts()
        )
        raise RuntimeError(
            f"the rows the code derives do not match the contract of {model.name} ({found}); make the derivation "
            "give each contract column its declared type (e.g. .cast(pl.Int64) for BIGINT)"
        )
    # the reason must not depend on the reports validated with it (the warehouse compares stored refusals with
    # new ones): rows are counted within the report, and a failing value leaves out the batch's report index
    rows = frame.with_row_index("index").select(
        pl.col("index").cast(pl.Int32), "report_idx", row=pl.int_range(1, pl.len() + 1).over("report_idx")
    )
    value = pl.col("failure_case").cast(pl.String).str.replace_all(r'"report_idx":-?\d+,?', "")
    per_report = (
        cases.join(rows, on="index")
        .group_by("report_idx", maintain_order=True)
        .agg(pl.format("{} {} value '{}' (row {})", "column", "check", value, "row").head(5).str.join("; "))
    )
    return {
        idx: f"rows staged for the warehouse fail {model.name}: {listed}"
        for idx, listed in per_report.iter_rows()
    }


def rows_for_tables(batch: list[ProcessedReport]) -> tuple[TableRows, dict[int, str]]:
    """Every table's rows for a batch of reports (grain per frame: its contract's [staged] grain), validated.

    Returns the rows of the reports that pass and, for each report that does not, why.
    """
    accepted = _tagged([p.accepted for p in batch], batch)
    leaders = accepted.select("report_idx", "publisher", "leader_name").unique(maintain_order=True)
    departments = (
        accepted.select("report_idx", "publisher", pl.col("departments").alias("department_name"))
        .explode("department_name")
        .unique(maintain_order=True)
    )
    targets = accepted.select(
        "report_idx", "publisher", "plan_year", "target_no", "target_text"
    ).with_columns(text_normalized=normalised_texts(accepted["target_text"]))
    bridge = (
        accepted.select("report_idx", "target_no", pl.col("departments").alias("department_name"))
        .with_columns(position=pl.int_ranges(1, pl.col("department_name").list.len() + 1, dtype=pl.Int64))
        .explode(["department_name", "position"])
        .with_columns(is_lead=pl.col("position") == 1)
    )
    facts = accepted.select(
        "report_idx", "target_no", "leader_name",
        *[pl.col(c.staged_from or c.name).alias(c.name) for c in fact_value_columns()],
    )
    quarantine = _tagged([p.quarantine for p in batch], batch).select(list(staged_model("quarantine").columns))
    periods = pl.concat([period_row(k) for k in sorted({p.report.period.key for p in batch})])
    staged = TableRows(
        periods=periods,
        reports=_report_rows(batch),
        leaders=leaders,
        departments=departments,
        targets=targets,
        bridge=bridge,
        facts=facts,
        quarantine=quarantine,
    )
    staged_model("dim_period").validate(periods, lazy=True)  # built from parsed periods: a failure here is a bug
    failures: dict[int, str] = {}
    for name, frame in (
        ("dim_report", staged.reports),
        ("dim_leader", leaders),
        ("dim_department", departments),
        ("dim_target", targets),
        ("bridge_target_department", bridge),
        ("fact_target_progress", facts),
        ("quarantine", quarantine),
    ):
        for idx, reason in _failing_reports(staged_model(name), frame).items():
            failures.setdefault(idx, reason)
    if failures:
        staged = staged.only([i for i in range(len(batch)) if i not in failures])
    return staged, failures
