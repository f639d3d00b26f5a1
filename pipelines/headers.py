"""Recognise a report's header row and map its cells to duban's column names."""

from __future__ import annotations

import tomllib
import unicodedata
from functools import cache

import polars as pl

from schemas import schema_file

RECORD_COLUMNS = (
    "target_no",
    "leader_name",
    "target_text",
    "deadline_text",
    "progress_text",
    "on_schedule_text",
    "departments_text",
)


def header_key(cell: str) -> str:
    """The form a header cell is matched in: NFKC, no white space."""
    return "".join(unicodedata.normalize("NFKC", cell).split())


@cache
def header_synonyms() -> dict[str, str]:
    """Every known header wording (matching form) → column name, from schemas/header_synonyms.toml."""
    config = tomllib.loads(schema_file("header_synonyms.toml"))
    mapping: dict[str, str] = {}
    for column, spec in config["columns"].items():
        if column not in RECORD_COLUMNS:
            raise ValueError(f"header_synonyms.toml names an unknown column {column!r}")
        for synonym in spec["synonyms"]:
            mapping[header_key(synonym)] = column
    return mapping


def header_column_expr(cell: pl.Expr) -> pl.Expr:
    """Polars expression mapping a header cell to its column name (null when unknown)."""
    synonyms = header_synonyms()
    return (
        cell.str.normalize("NFKC")
        .str.replace_all(r"\s+", "")
        .replace_strict(list(synonyms), list(synonyms.values()), default=None, return_dtype=pl.String)
    )
