"""Turn raw record cells into typed, tidy values: numbers, department lists, deadlines, 是/否 flags."""

from __future__ import annotations

import tomllib
import unicodedata
from functools import cache

import polars as pl

from pipelines.errors import ConfigurationError
from schemas import schema_file

# Separators between departments inside one cell: white space, 、，,；;／/
DEPARTMENT_SEPARATORS = r"[\s、，,；;／/]+"
PROGRESS_STATUSES = ["completed", "ahead", "on_schedule", "behind", "other"]
ON_SCHEDULE_BY_STATUS = {"completed": True, "ahead": True, "on_schedule": True, "behind": False}


@cache
def status_words() -> dict[str, str]:
    """Printed flag word (NFKC, no white space) → progress status, from schemas/status_words.toml."""
    table = tomllib.loads(schema_file("status_words.toml"))
    unknown = sorted(set(table) - set(PROGRESS_STATUSES[:-1]))  # `other` is what no word maps to
    if unknown:
        raise ConfigurationError(
            f"schemas/status_words.toml names {', '.join(unknown)}; the statuses are {', '.join(PROGRESS_STATUSES[:-1])} "
            "(any other word is `other`)"
        )
    meaning: dict[str, str] = {}
    for status, words in table.items():
        for word in words:
            folded = "".join(unicodedata.normalize("NFKC", word).split())
            if meaning.get(folded, status) != status:
                raise ConfigurationError(
                    f"schemas/status_words.toml lists {word!r} under both {meaning[folded]} and {status}; keep it under one"
                )
            meaning[folded] = status
    return meaning


def progress_status_expr(text: pl.Expr) -> pl.Expr:
    """The progress status of a printed flag: one of PROGRESS_STATUSES, null when the cell is empty."""
    folded = text.str.normalize("NFKC").str.replace_all(r"\s+", "")
    return (
        pl.when(folded.fill_null("") == "")
        .then(None)
        .otherwise(folded.replace_strict(status_words(), default="other", return_dtype=pl.String))
    )


def deadline_date_expr(text: pl.Expr, plan_year: int | pl.Expr) -> pl.Expr:
    """A deadline's date in the plan year: 年底 → 12-31, N月底 → month end, N月N日 → that day, else null."""
    text = text.str.normalize("NFKC").str.replace_all(r"\s+", "")
    year = text.str.extract(r"((?:19|20)\d{2})年", 1).cast(pl.Int32).fill_null(plan_year)
    month = text.str.extract(r"(\d{1,2})月", 1).cast(pl.Int32)
    day = text.str.extract(r"\d{1,2}月(\d{1,2})[日号]", 1).cast(pl.Int32)
    valid_month = month.is_between(1, 12).fill_null(False)
    # pl.date raises on impossible parts even in branches not taken, so feed it safe ones.
    month_end = pl.date(year, pl.when(valid_month).then(month).otherwise(1), 1).dt.month_end()
    valid_day = valid_month & day.is_between(1, month_end.dt.day()).fill_null(False)
    exact_day = pl.date(year, pl.when(valid_month).then(month).otherwise(1), pl.when(valid_day).then(day).otherwise(1))
    return (
        pl.when(text.str.contains(r"^(?:(?:19|20)\d{2}年)?(?:年底|年末|年内|全年)$"))
        .then(pl.date(year, 12, 31))
        .when(valid_day)
        .then(exact_day)
        .when(valid_month & day.is_null() & text.str.contains(r"月(?:底|末|份|前|内|上旬|中旬|下旬)?$"))
        .then(month_end)
        .otherwise(None)
    )


def normalise_records(records: pl.DataFrame, plan_year: int | pl.Expr, keys: tuple[str, ...] = ()) -> pl.DataFrame:
    """One row per kept record, with typed columns ready for validation (grain: one target in one report).

    plan_year is the reports' year (a column expression when records of several years are normalised
    together); keys are columns carried through unchanged, such as the report a record belongs to.
    """
    departments = (
        pl.col("departments_text")
        .str.strip_chars()
        .str.replace_all(DEPARTMENT_SEPARATORS, "\t")
        .str.split("\t")
        .list.eval(pl.element().filter(pl.element() != ""))
    )
    number = pl.col("target_no").str.normalize("NFKC")
    return records.select(
        *keys,
        "source_line",
        "block",
        pl.col("target_no").alias("target_no_text"),
        pl.when(number.str.contains(r"^\d+$")).then(number.cast(pl.Int64, strict=False)).alias("target_no"),
        pl.col("leader_name").str.strip_chars(),
        pl.col("target_text").str.strip_chars(),
        pl.col("deadline_text").str.strip_chars(),
        deadline_date_expr(pl.col("deadline_text"), plan_year).alias("deadline_date"),
        pl.col("progress_text").str.strip_chars(),
        pl.col("on_schedule_text").str.strip_chars(),
        progress_status_expr(pl.col("on_schedule_text")).alias("progress_status"),
        progress_status_expr(pl.col("on_schedule_text"))
        .replace_strict(ON_SCHEDULE_BY_STATUS, default=None, return_dtype=pl.Boolean)
        .alias("on_schedule"),
        departments.alias("departments"),
        "raw_cells",
    ).with_columns(lead_department=pl.col("departments").list.first())
