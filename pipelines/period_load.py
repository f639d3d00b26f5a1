"""Make the warehouse's reports of one period equal what the period's raw files say, publisher by publisher."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from pipelines.faults import pause_point
from pipelines.load import delete_reports, drop_unused, load_batch, record_failed_report, transaction
from pipelines.process import FailedReport, ProcessedReport
from pipelines.stage import stage_batch, stage_period_row

Item = ProcessedReport | FailedReport
Fingerprint = frozenset[tuple[str, str, datetime | None]]


@dataclass
class PeriodLoad:
    """What loading a period did, by source file: 'loaded', 'superseded', 'unchanged' or a failure reason."""

    outcomes: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)


def _identity(item: Item) -> tuple[str, str, str | None, datetime | None]:
    """(source_file, sha256, publisher, modified_at) of a processed or failed report."""
    if isinstance(item, FailedReport):
        return item.source_file, item.sha256, item.publisher, item.modified_at
    r = item.report
    return r.source_file, r.sha256, r.publisher, r.modified_at


def _wanted(items: list[Item]) -> dict[str | None, list[Item]]:
    """The period's reports by publisher, in load order (oldest file first)."""
    groups: dict[str | None, list[Item]] = defaultdict(list)
    for item in items:
        groups[_identity(item)[2]].append(item)
    return groups


def _loaded(con: duckdb.DuckDBPyConnection, period_key: str) -> dict[str | None, Fingerprint]:
    """The files the warehouse holds for the period, by publisher, whatever their status."""
    groups: dict[str | None, set] = defaultdict(set)
    for source_file, sha256, publisher, modified_at in con.execute(
        "SELECT source_file, sha256, publisher, file_modified_at FROM dim_report WHERE period_key = ?", [period_key]
    ).fetchall():
        groups[publisher].add((source_file, sha256, modified_at))
    return {publisher: frozenset(files) for publisher, files in groups.items()}


def _fingerprint(items: list[Item]) -> Fingerprint:
    return frozenset((s, h, m) for s, h, _, m in map(_identity, items))


def _write(con: duckdb.DuckDBPyConnection, period_key: str, changed: list, groups: dict, refused: dict[int, str]) -> None:
    """Replace the changed publishers' reports of the period in one transaction, leaving out refused ones."""
    items = [item for publisher in changed for item in groups.get(publisher, [])]
    batch = [item for item in items if isinstance(item, ProcessedReport)]
    staged, invalid = stage_batch(batch) if batch else (None, {})
    with transaction(con):
        con.register("stg_period", stage_period_row(period_key))
        con.execute("INSERT INTO dim_period SELECT * FROM stg_period ON CONFLICT DO NOTHING")
        con.unregister("stg_period")
        for publisher in changed:
            delete_reports(con, period_key, publisher)
        for item in items:
            if isinstance(item, FailedReport):
                record_failed_report(con, item.source_file, item.sha256, period_key, item.error, item.publisher, item.modified_at)
        for idx, reason in sorted({**invalid, **refused}.items()):
            r = batch[idx].report
            record_failed_report(con, r.source_file, r.sha256, period_key, reason, r.publisher, r.modified_at)
        if staged is not None:
            load_batch(con, staged.only([i for i in range(len(batch)) if i not in refused]))
        drop_unused(con, [p for p in changed if p is not None])
        pause_point("load")  # inside the transaction: facts written, not committed


def _refusals(con: duckdb.DuckDBPyConnection, period_key: str, changed: list, groups: dict) -> dict[int, str]:
    """Batch index → the warehouse's refusal, for each report the database will not take (tried alone, rolled back)."""
    items = [item for publisher in changed for item in groups.get(publisher, [])]
    batch = [item for item in items if isinstance(item, ProcessedReport)]
    refused: dict[int, str] = {}
    for idx, item in enumerate(batch):
        try:
            con.execute("BEGIN TRANSACTION")
            staged, invalid = stage_batch([item])
            if not invalid:
                delete_reports(con, period_key, item.report.publisher)
                con.register("stg_period", stage_period_row(period_key))
                con.execute("INSERT INTO dim_period SELECT * FROM stg_period ON CONFLICT DO NOTHING")
                con.unregister("stg_period")
                load_batch(con, staged)
        except duckdb.Error as error:
            refused[idx] = f"the warehouse refused the report: {error}"
        finally:
            con.execute("ROLLBACK")
    return refused


def load_period(con: duckdb.DuckDBPyConnection, period_key: str, items: list[Item]) -> PeriodLoad:
    """Bring one period in line with its current files (grain of the result: one entry per file).

    items are every file that reports the period now, oldest first. A publisher whose files in the
    warehouse differ from them (added, changed, re-dated, removed, failing) has its reports of the
    period replaced as a whole, so the result never depends on the order of earlier builds; a
    publisher whose files are the same is left untouched. Publishers with no file left are removed.
    """
    groups = _wanted(sorted(items, key=lambda item: (_identity(item)[3] or datetime.min, _identity(item)[0])))
    loaded = _loaded(con, period_key)
    changed = sorted(
        (p for p in set(groups) | set(loaded) if _fingerprint(groups.get(p, [])) != loaded.get(p)),
        key=lambda p: (p is None, p or ""),
    )
    result = PeriodLoad()
    for publisher, group in groups.items():
        if publisher not in changed:
            for item in group:
                result.outcomes[_identity(item)[0]] = "unchanged"
    if not changed:
        return result
    try:
        _write(con, period_key, changed, groups, {})
    except duckdb.Error:
        _write(con, period_key, changed, groups, _refusals(con, period_key, changed, groups))
    result.removed = sorted(
        s for p in changed if p not in groups for (s, _, _) in loaded.get(p, frozenset())
    )
    for source_file, status, error in con.execute(
        """SELECT source_file, status, error FROM dim_report
           WHERE period_key = ? AND publisher IN (SELECT unnest(?::VARCHAR[]))""",
        [period_key, [p for p in changed if p is not None]],
    ).fetchall():
        if status == "failed":
            result.failures[source_file] = error
        else:
            result.outcomes[source_file] = status
    return result
