"""SQL checks over the warehouse: reconciliation, unique keys and foreign keys, per period."""

from __future__ import annotations

import duckdb

from pipelines.contracts import foreign_keys, tables, unique_keys

# Table → its key columns, and (child table, child column, parent table, parent column): from the contracts.
UNIQUE_KEYS = unique_keys()
FOREIGN_KEYS = foreign_keys()
# "table (columns)" → columns of every UNIQUE set: a DuckLake cannot declare them, so the check verifies them too
UNIQUE_SETS = {f"{t.name} ({', '.join(u)})": list(u) for t in tables() for u in t.unique}


def reconciliation(con: duckdb.DuckDBPyConnection, period_key: str) -> list[dict]:
    """Per loaded report of the period: records read, rows in the fact table and in quarantine."""
    rows = con.execute(
        """SELECT r.source_file, r.records_read, r.accepted, r.quarantined,
                  (SELECT count(*) FROM fact_target_progress f WHERE f.report_key = r.report_key) AS facts,
                  (SELECT count(*) FROM quarantine q WHERE q.report_key = r.report_key) AS quarantine_rows
           FROM dim_report r WHERE r.period_key = ? AND r.status = 'loaded' ORDER BY r.source_file""",
        [period_key],
    ).fetchall()
    names = ["source_file", "records_read", "accepted", "quarantined", "facts", "quarantine_rows"]
    results = [dict(zip(names, row)) for row in rows]
    for r in results:
        r["reconciles"] = r["records_read"] == r["facts"] + r["quarantine_rows"] and r["facts"] == r["accepted"]
    return results


def duplicate_keys(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Table (or "table (columns)" for a UNIQUE set) → number of key values that occur more than once (all zero when keys are unique)."""
    counts = {}
    keys = {**UNIQUE_KEYS, **UNIQUE_SETS}
    for name, columns in keys.items():
        table = name.split(" ")[0]
        cols = ", ".join(f'"{c}"' for c in columns)
        (counts[name],) = con.execute(
            f'SELECT count(*) FROM (SELECT {cols} FROM "{table}" GROUP BY ALL HAVING count(*) > 1)'
        ).fetchone()
    return counts


def orphan_references(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """'child.column → parent' → number of non-null references with no parent row."""
    counts = {}
    for child, column, parent, parent_column in FOREIGN_KEYS:
        (counts[f"{child}.{column} → {parent}"],) = con.execute(
            f'SELECT count(*) FROM "{child}" c WHERE c."{column}" IS NOT NULL '
            f'AND NOT EXISTS (SELECT 1 FROM "{parent}" p WHERE p."{parent_column}" = c."{column}")'
        ).fetchone()
    return counts


def failed_row_checks(con: duckdb.DuckDBPyConnection) -> list[str]:
    """'table.column: condition (n rows)' for every contract CHECK some row breaks; what a DuckLake cannot enforce itself."""
    from pipelines.contracts import row_checks

    broken = []
    for table, column, condition in row_checks():
        (n,) = con.execute(f'SELECT count(*) FROM "{table}" WHERE NOT ({condition})').fetchone()
        if n:
            broken.append(f"{table}.{column}: CHECK ({condition}) fails on {n} row(s)")
    return broken
