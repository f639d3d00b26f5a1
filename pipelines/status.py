"""`duban status`: what the published warehouse holds, read-only — periods, publishers, last build, problems."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from pipelines.summary import _short, format_table, number

LIST_LIMIT = 20  # publishers, failed and superseded files shown in text (all of them in --json)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


PERIODS = """
SELECT r.period_key,
       count(*)::INTEGER AS reports,
       count(DISTINCT r.publisher)::INTEGER AS publishers,
       count(*) FILTER (WHERE r.status = 'loaded')::INTEGER AS loaded,
       count(*) FILTER (WHERE r.status = 'superseded')::INTEGER AS superseded,
       count(*) FILTER (WHERE r.status = 'failed')::INTEGER AS failed,
       coalesce((SELECT count(*) FROM fact_target_progress f WHERE f.period_key = r.period_key), 0)::INTEGER AS facts,
       coalesce((SELECT count(*) FROM quarantine q JOIN dim_report qr USING (report_key)
                 WHERE qr.period_key = r.period_key), 0)::INTEGER AS quarantined
FROM dim_report r GROUP BY r.period_key ORDER BY r.period_key NULLS LAST"""

PUBLISHERS = """
SELECT r.publisher,
       count(DISTINCT r.period_key)::INTEGER AS periods,
       min(r.period_key) AS first_period,
       max(r.period_key) AS last_period,
       count(*)::INTEGER AS reports,
       coalesce((SELECT count(*) FROM fact_target_progress f JOIN dim_report fr USING (report_key)
                 WHERE fr.publisher = r.publisher), 0)::INTEGER AS facts
FROM dim_report r WHERE r.publisher IS NOT NULL GROUP BY r.publisher ORDER BY r.publisher"""

FAILED = """SELECT source_file, period_key, publisher, error FROM dim_report WHERE status = 'failed'
            ORDER BY period_key, source_file"""

SUPERSEDED = """
SELECT r.source_file, r.period_key, r.publisher, s.source_file AS superseded_by
FROM dim_report r LEFT JOIN dim_report s ON s.report_key = r.superseded_by
WHERE r.status = 'superseded' ORDER BY r.period_key, r.source_file"""

REASONS = """SELECT reason, count(*)::INTEGER AS records, count(DISTINCT report_key)::INTEGER AS reports
             FROM quarantine GROUP BY reason ORDER BY records DESC, reason"""


def last_run_id() -> str | None:
    """The latest `duban build` run in $DAGSTER_HOME, if it is set and holds Dagster's storage; else None."""
    home = os.environ.get("DAGSTER_HOME")
    if not home or not (Path(home) / "history").exists():
        return None
    try:
        import dagster as dg

        from pipelines.runs import PID_TAG

        with dg.DagsterInstance.from_config(home) as instance:
            runs = instance.get_runs(limit=20)
            for run in runs:  # newest first; a run started by `duban build` carries its PID tag
                if PID_TAG in run.tags:
                    return run.run_id
            return runs[0].run_id if runs else None
    except Exception:  # the run history is a convenience here: a status never fails for it
        return None


def warehouse_status(path) -> dict:
    """Everything `duban status` says, from the published file (or the DuckLake's latest snapshot) opened read-only."""
    from pipelines.targets import target_for

    with target_for(path).read() as con:
        meta = dict(con.execute("SELECT key, value FROM duban_meta").fetchall())
        periods = _rows(con, PERIODS)
        publishers = _rows(con, PUBLISHERS)
        (loaded_at,) = con.execute("SELECT max(loaded_at) FROM dim_report").fetchone()
        (facts,) = con.execute("SELECT count(*) FROM fact_target_progress").fetchone()
        (quarantined,) = con.execute("SELECT count(*) FROM quarantine").fetchone()
        failed = _rows(con, FAILED)
        superseded = _rows(con, SUPERSEDED)
        reasons = _rows(con, REASONS)
    return {
        "warehouse": str(path),
        "schema_version": meta.get("schema_version"),
        "pipeline_version": meta.get("pipeline_version"),
        "last_build": {
            "loaded_at": loaded_at.isoformat(sep=" ") if loaded_at else None,
            "published_at": target_for(path).published_at().isoformat(sep=" ", timespec="seconds"),
            "run_id": last_run_id(),
        },
        "totals": {
            "periods": len([p for p in periods if p["period_key"]]),
            "publishers": len(publishers),
            "reports": sum(p["reports"] for p in periods),
            "loaded": sum(p["loaded"] for p in periods),
            "superseded": len(superseded),
            "failed": len(failed),
            "facts": facts,
            "quarantined": quarantined,
        },
        "periods": periods,
        "publishers": publishers,
        "failed": failed,
        "superseded": superseded,
        "quarantine_by_reason": reasons,
    }


def _more(items: list, what: str) -> list[str]:
    return [f"  … and {number(len(items) - LIST_LIMIT)} more {what} (--json lists all)"] if len(items) > LIST_LIMIT else []


def format_status(held: dict) -> str:
    """The status as text: totals, per period, publishers, last build, failed and superseded files, quarantine."""
    t = held["totals"]
    build = held["last_build"]
    published = build["published_at"]
    lines = [
        f"warehouse {held['warehouse']} (schema {held['schema_version']}, pipeline {held['pipeline_version']})",
        f"last build: reports loaded up to {build['loaded_at']}, published {published}"
        + (f", run {build['run_id']}" if build["run_id"] else ""),
        f"{number(t['periods'])} period(s), {number(t['publishers'])} publisher(s), {number(t['reports'])} report(s): "
        f"{number(t['loaded'])} loaded, {number(t['superseded'])} superseded, {number(t['failed'])} failed; "
        f"{number(t['facts'])} facts, {number(t['quarantined'])} quarantined",
        "",
        format_table(
            ["period", "reports", "publishers", "loaded", "superseded", "failed", "facts", "quarantined"],
            [[p["period_key"], p["reports"], p["publishers"], p["loaded"], p["superseded"], p["failed"], p["facts"],
              p["quarantined"]] for p in held["periods"]],
        ),
        "",
        format_table(
            ["publisher", "periods", "first", "last", "reports", "facts"],
            [[p["publisher"], p["periods"], p["first_period"], p["last_period"], p["reports"], p["facts"]]
             for p in held["publishers"][:LIST_LIMIT]],
        ),
        *_more(held["publishers"], "publisher(s)"),
    ]
    if held["failed"]:
        lines += ["", "failed:"] + [f"  {f['source_file']} ({f['period_key']}): {f['error']}" for f in held["failed"][:LIST_LIMIT]]
        lines += _more(held["failed"], "failed file(s)")
    if held["superseded"]:
        lines += ["", "superseded:"] + [
            f"  {s['source_file']} ({s['period_key']}) by {s['superseded_by']}" for s in held["superseded"][:LIST_LIMIT]
        ]
        lines += _more(held["superseded"], "superseded file(s)")
    if held["quarantine_by_reason"]:
        lines += ["", "quarantined by reason:", format_table(
            ["records", "reports", "reason"],
            [[number(q["records"]), number(q["reports"]), _short(q["reason"])] for q in held["quarantine_by_reason"][:10]],
        )]
    return "\n".join(lines)
