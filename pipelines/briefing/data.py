"""Read one briefing's content from the published warehouse: every number is a view's."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


@dataclass
class Briefing:
    """What one briefing shows, each part straight from a view."""

    publisher: str
    period_key: str
    summary: dict  # v_period_summary
    behind: list[dict] = field(default_factory=list)  # v_progress, not on schedule
    slipped: list[dict] = field(default_factory=list)  # v_schedule_changes
    caught_up: list[dict] = field(default_factory=list)
    text_changes: list[dict] = field(default_factory=list)  # v_target_changes
    stale: list[dict] = field(default_factory=list)  # v_stale_progress
    overdue: list[dict] = field(default_factory=list)  # v_overdue_targets
    departments: list[dict] = field(default_factory=list)  # v_department_scorecard
    trend: list[dict] = field(default_factory=list)  # v_period_summary over the year
    quality: dict = field(default_factory=dict)  # v_report_quality
    quarantine_reasons: list[dict] = field(default_factory=list)  # v_quarantine_reasons
    superseded: list[dict] = field(default_factory=list)  # dim_report
    failed: list[dict] = field(default_factory=list)  # dim_report

    @property
    def behind_by_leader(self) -> list[tuple[str, list[dict]]]:
        """The behind list grouped by leader, groups in the order of their first target."""
        groups: dict[str, list[dict]] = {}
        for row in self.behind:
            groups.setdefault(row["leader_name"], []).append(row)
        return list(groups.items())


def briefing_keys(con: duckdb.DuckDBPyConnection, publisher: str | None = None, period: str | None = None) -> list[tuple[str, str]]:
    """(publisher, period_key) pairs to write: the given period, else each publisher's latest."""
    rows = con.execute(
        """SELECT publisher, period_key, period_end = max(period_end) OVER (PARTITION BY publisher) AS latest
           FROM v_period_summary
           WHERE (?::VARCHAR IS NULL OR publisher = ?) AND (?::VARCHAR IS NULL OR period_key = ?)
           ORDER BY publisher, period_end""",
        [publisher, publisher, period, period],
    ).fetchall()
    return [(p, k) for p, k, latest in rows if period is not None or latest]


def load_briefing(con: duckdb.DuckDBPyConnection, publisher: str, period_key: str) -> Briefing:
    """One briefing's content, read with an open (read-only) connection."""
    key = [publisher, period_key]
    summary = _rows(con, "SELECT * FROM v_period_summary WHERE publisher = ? AND period_key = ?", key)
    if not summary:
        raise LookupError(f"no facts for {publisher} in {period_key}")
    s = summary[0]
    changes = _rows(
        con,
        """SELECT target_no, target_text, leader_name, lead_department, previous_period_key, change
           FROM v_schedule_changes WHERE publisher = ? AND period_key = ? ORDER BY target_no""",
        key,
    )
    return Briefing(
        publisher=publisher,
        period_key=period_key,
        summary=s,
        behind=_rows(
            con,
            """SELECT target_no, target_text, leader_name, lead_department, deadline_text, progress_text, status_text,
                      progress_status, min(target_no) OVER (PARTITION BY leader_name) AS first_of_leader
               FROM v_progress
               WHERE publisher = ? AND period_key = ? AND on_schedule IS NOT TRUE
               ORDER BY first_of_leader, leader_name, target_no""",
            key,
        ),
        slipped=[c for c in changes if c["change"] == "slipped"],
        caught_up=[c for c in changes if c["change"] == "caught up"],
        text_changes=_rows(
            con,
            """SELECT target_no, previous_text, target_text, previous_from_period FROM v_target_changes
               WHERE publisher = ? AND valid_from_period = ? ORDER BY target_no""",
            key,
        ),
        stale=_rows(
            con,
            """SELECT target_no, target_text, leader_name, lead_department, previous_period_key, progress_text
               FROM v_stale_progress WHERE publisher = ? AND period_key = ? ORDER BY target_no""",
            key,
        ),
        overdue=_rows(
            con,
            """SELECT target_no, target_text, leader_name, lead_department, deadline_text, deadline_date, status_text
               FROM v_overdue_targets WHERE publisher = ? AND period_key = ? ORDER BY deadline_date, target_no""",
            key,
        ),
        departments=_rows(
            con,
            """SELECT department_name, targets_led, led_on_schedule, share_on_schedule
               FROM v_department_scorecard
               WHERE publisher = ? AND period_key = ? AND targets_led > 0
               ORDER BY share_on_schedule, targets_led DESC, department_name""",
            key,
        ),
        trend=_rows(
            con,
            """SELECT period_key, targets, on_schedule_count, on_schedule_pct FROM v_period_summary
               WHERE publisher = ? AND year = ? AND period_end <= ? ORDER BY period_end""",
            [publisher, s["year"], s["period_end"]],
        ),
        quality=(_rows(con, "SELECT * FROM v_report_quality WHERE publisher = ? AND period_key = ?", key) or [{}])[0],
        quarantine_reasons=_rows(
            con,
            """SELECT reason, records, source_files FROM v_quarantine_reasons
               WHERE publisher = ? AND period_key = ? ORDER BY records DESC, reason""",
            key,
        ),
        superseded=_rows(
            con,
            """SELECT source_file, file_modified_at, records_read FROM dim_report
               WHERE publisher = ? AND period_key = ? AND status = 'superseded' ORDER BY file_modified_at, source_file""",
            key,
        ),
        failed=_rows(
            con,
            """SELECT source_file, error FROM dim_report
               WHERE publisher = ? AND period_key = ? AND status = 'failed' ORDER BY source_file""",
            key,
        ),
    )


def open_published(path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse (path: a file or a target)."""
    from pipelines.targets import target_for

    return target_for(path).read()
