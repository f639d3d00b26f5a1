"""The per-report summary `duban build` prints: publisher, period, records read, accepted, quarantined."""

from __future__ import annotations

import unicodedata
from pathlib import Path


from pipelines.printable import printable
from pipelines.sql_lists import json_list


def display_width(text: str) -> int:
    """Columns a string takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def format_table(header: list[str], rows: list[list[object]]) -> str:
    """A plain aligned text table that keeps CJK text in line."""
    cells = [[printable(v) for v in row] for row in [header, *rows]]  # a file name cannot break a line
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(v + " " * (w - display_width(v)) for v, w in zip(row, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report_rows(warehouse, periods: list[str], files: dict[str, str] | None = None) -> list[dict]:
    """Every dim_report row of the given periods (one row per file), read-only (warehouse: a file or a target);
    with files ({source_file: sha256}), only the rows of those files (a build into a lake speaks for its own)."""
    from pipelines.targets import target_for

    target = target_for(warehouse)
    if not periods or not target.exists():
        return []
    with target.read() as con:
        cursor = con.execute(
            """SELECT source_file, publisher, period_key, records_read, accepted, quarantined, status, error, sha256
               FROM dim_report WHERE period_key IN (SELECT unnest(?::JSON::VARCHAR[]))
               ORDER BY period_key, publisher, source_file""",
            [json_list(periods)],
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    if files is not None:
        rows = [r for r in rows if files.get(r["source_file"]) == r["sha256"]]
    for r in rows:
        del r["sha256"]
    return rows


# A build over more reports than this prints totals per period instead of one line per report (--verbose: both).
TABLE_LIMIT = 20
PERIOD_LIMIT = 16  # more periods than this are summed per year
REASON_LIMIT = 8
WORST_LIMIT = 5


def number(n: int) -> str:
    return f"{n:,}"


def totals(rows: list[dict]) -> dict:
    """Reports, records read, accepted, quarantined and failed over report rows."""
    return {
        "reports": len(rows),
        "publishers": len({r["publisher"] for r in rows if r["publisher"] is not None}),
        "records_read": sum(r["records_read"] or 0 for r in rows),
        "accepted": sum(r["accepted"] or 0 for r in rows),
        "quarantined": sum(r["quarantined"] or 0 for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "superseded": sum(r["status"] == "superseded" for r in rows),
    }


def totals_line(t: dict) -> str:
    """`2,000 reports, 116,000 records read: 108,000 accepted, 8,000 quarantined, 0 failed`."""
    return (
        f"{number(t['reports'])} report{'' if t['reports'] == 1 else 's'}, {number(t['records_read'])} records read: "
        f"{number(t['accepted'])} accepted, {number(t['quarantined'])} quarantined, {number(t['failed'])} failed"
    )


def period_table(rows: list[dict]) -> str:
    """Totals per period (per year when there are many periods): reports, publishers, records, failed."""
    groups: dict[str, list[dict]] = {}
    periods = sorted({r["period_key"] for r in rows if r["period_key"]})
    by_year = len(periods) > PERIOD_LIMIT
    for r in rows:
        key = r["period_key"] or "?"
        groups.setdefault(key[:4] if by_year and key != "?" else key, []).append(r)
    table = []
    for key in sorted(groups):
        t = totals(groups[key])
        table.append([key, number(t["reports"]), number(t["publishers"]), number(t["records_read"]),
                      number(t["accepted"]), number(t["quarantined"]), number(t["failed"])])
    header = ["year" if by_year else "period", "reports", "publishers", "read", "accepted", "quarantined", "failed"]
    return format_table(header, table)


def quarantine_by_reason(warehouse, files: list[str]) -> list[tuple[str, int, int]]:
    """(reason, records, reports) of the quarantine rows of the given files, most records first."""
    from pipelines.targets import target_for

    target = target_for(warehouse)
    if not files or not target.exists():
        return []
    with target.read() as con:
        return con.execute(
            """SELECT reason, count(*), count(DISTINCT source_file) FROM quarantine
               WHERE source_file IN (SELECT unnest(?::JSON::VARCHAR[])) GROUP BY 1 ORDER BY 2 DESC, 1""",
            [json_list(files)],
        ).fetchall()


def _short(text: str, width: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def scaled_summary(rows: list[dict], reasons: list[tuple[str, int, int]]) -> list[str]:
    """The summary that stays short however many reports were built: per period, quarantine by reason, the worst reports."""
    lines = [period_table(rows)]
    if reasons:
        shown = reasons[:REASON_LIMIT]
        table = [[number(n), number(reports), _short(reason)] for reason, n, reports in shown]
        rest = reasons[REASON_LIMIT:]
        if rest:
            table.append([number(sum(r[1] for r in rest)), "", f"({len(rest)} other reason(s))"])
        lines += ["", "quarantined by reason:", format_table(["records", "reports", "reason"], table)]
    worst = sorted((r for r in rows if r["quarantined"]), key=lambda r: (-r["quarantined"], r["source_file"]))
    if worst:
        lines.append("most quarantined: " + ", ".join(f"{r['source_file']} ({number(r['quarantined'])})" for r in worst[:WORST_LIMIT]))
    return lines


REPORT_FIELDS = ["source_file", "publisher", "period_key", "status", "records_read", "accepted", "quarantined", "error"]


def write_report_file(path: Path, rows: list[dict]) -> None:
    """One CSV row per report (UTF-8 with BOM so that spreadsheet programs read the Chinese names)."""
    import csv

    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=REPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
