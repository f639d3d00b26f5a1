"""Run pandera over tidy records: passing rows go on, failing rows become quarantine rows with reasons."""

from __future__ import annotations

import pandera.errors
import polars as pl

from pipelines.reshape import QUARANTINE_COLUMNS
from schemas.tidy import TidyRecord


class SchemaDefectError(RuntimeError):
    """Tidy records do not have the columns or types the model expects: a bug in duban, not in the data."""


def validate_tidy(tidy: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate eagerly with every failure collected; returns (accepted rows, quarantine rows)."""
    try:
        TidyRecord.validate(tidy, lazy=True)
        extra = {"report_idx": pl.Int64} if "report_idx" in tidy.columns else {}
        return tidy, pl.DataFrame(schema={**extra, **QUARANTINE_COLUMNS})
    except pandera.errors.SchemaErrors as errors:
        failures = errors.failure_cases
    if failures["index"].is_null().any():
        raise SchemaDefectError(f"tidy records do not match the TidyRecord model:\n{failures}")
    indexed = tidy.with_row_index("index").with_columns(pl.col("index").cast(pl.Int64))
    raw_numbers = indexed.select("index", "target_no_text")
    per_row = (
        failures.with_columns(pl.col("index").cast(pl.Int64))
        .join(raw_numbers, on="index", how="left")
        .with_columns(
            # a number that is not a whole number fails as null: show what the file said
            failure_case=pl.when((pl.col("column") == "target_no") & pl.col("failure_case").is_null())
            .then(pl.col("target_no_text"))
            .otherwise(pl.col("failure_case"))
            .fill_null("(empty)")
        )
        .group_by("index", maintain_order=True)
        .agg(
            reason=pl.format("failed check {} on {}: {}", "check", "column", "failure_case").str.join("; "),
            column_name=pl.col("column").unique(maintain_order=True).str.join(", "),
            check_name=pl.col("check").unique(maintain_order=True).str.join(", "),
            failure_value=pl.col("failure_case").str.join("; "),
        )
    )
    extra = ["report_idx"] if "report_idx" in tidy.columns else []
    rejected = indexed.join(per_row, on="index", how="inner").select(
        *extra,
        "source_line",
        "target_no_text",
        "reason",
        "column_name",
        "check_name",
        "failure_value",
        "raw_cells",
    )
    accepted = indexed.join(per_row, on="index", how="anti").drop("index")
    return accepted, rejected.cast(QUARANTINE_COLUMNS)  # type: ignore[arg-type]
