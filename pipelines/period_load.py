"""Make the warehouse's reports of one period equal what the period's raw files say, publisher by publisher."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime

import duckdb
import polars as pl

from pipelines.faults import pause_point
from pipelines.load import add_periods, delete_reports, drop_unused, load_batch, in_build_wide, record_failed_report, set_meta, transaction
from pipelines.periods import Period
from pipelines.prefetch import read_ahead
from pipelines.process import FailedReport, ProcessedReport
from pipelines.sql_lists import json_list
from pipelines.table_rows import TableRows, rows_for_tables, period_row
from pipelines.version import pipeline_version

Item = ProcessedReport | FailedReport
Fingerprint = frozenset[tuple[str, str, datetime | None]]


@dataclass
class PeriodLoad:
    """What loading a period did, by source file: 'loaded', 'superseded', 're-derived', 'unchanged' or a failure reason."""

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


def _loaded(con: duckdb.DuckDBPyConnection, period_key: str) -> dict[str | None, dict[str, tuple]]:
    """publisher → source_file → (sha256, modified_at, status, error, pipeline_version, derived_sha256), any status."""
    groups: dict[str | None, dict[str, tuple]] = defaultdict(dict)
    for source_file, publisher, *rest in con.execute(
        """SELECT source_file, publisher, sha256, file_modified_at, status, error, pipeline_version, derived_sha256
           FROM dim_report WHERE period_key = ?""",
        [period_key],
    ).fetchall():
        groups[publisher][source_file] = tuple(rest)
    return groups


def _files(held: dict[str, tuple]) -> Fingerprint:
    return frozenset((source_file, sha256, modified_at) for source_file, (sha256, modified_at, *_) in held.items())


def derived_hashes(staged: TableRows) -> dict[int, str]:
    """report_idx → a hash of every row staged from that report, whatever the rows' order."""
    parts: dict[int, list[str]] = defaultdict(list)
    for f in fields(staged):
        frame = getattr(staged, f.name)
        if f.name == "periods" or frame.is_empty():
            continue
        per_report = (
            frame.select("report_idx", h=pl.struct(pl.exclude("report_idx")).hash(seed=0))
            .group_by("report_idx")
            .agg(pl.col("h").sort())
            .select("report_idx", pl.col("h").hash(seed=0))
        )
        for idx, digest in per_report.iter_rows():
            parts[idx].append(f"{f.name}:{digest}")
    return {idx: hashlib.sha256("|".join(sorted(v)).encode()).hexdigest() for idx, v in parts.items()}


Staged = tuple[list[ProcessedReport], TableRows | None, dict[int, str]]


def _staged(items: list[Item]) -> Staged:
    """The processed reports among items, their staged rows (with derived hash and pipeline version) and refusals."""
    batch = [item for item in items if isinstance(item, ProcessedReport)]
    if not batch:
        return batch, None, {}
    staged, invalid = rows_for_tables(batch)
    hashes = derived_hashes(staged)
    staged.reports = staged.reports.with_columns(
        derived_sha256=pl.col("report_idx").replace_strict(hashes, default=None, return_dtype=pl.String),
        pipeline_version=pl.lit(pipeline_version()),
    )
    return batch, staged, invalid


@dataclass
class PreparedPeriod:
    """A period's rows derived before its load, for every publisher of the period in the order the load writes them."""

    items: list[Item]
    staged: Staged


def _in_write_order(items: list[Item]) -> dict[str | None, list[Item]]:
    """The period's reports by publisher, oldest file first within a publisher: the order they are loaded in."""
    return _wanted(sorted(items, key=lambda item: (_identity(item)[3] or datetime.min, _identity(item)[0])))


def _add_periods(con: duckdb.DuckDBPyConnection, period_keys: list[str]) -> None:
    """Add these periods' dim_period rows where missing (inside the caller's transaction)."""
    con.register("rows_period", pl.concat([period_row(key) for key in period_keys]))
    try:
        add_periods(con, "rows_period")
    finally:
        con.unregister("rows_period")


def _write_order(items: list[Item]) -> list[Item]:
    """A period's reports in the order its load writes them: publishers by name, oldest file first within one."""
    groups = _in_write_order(items)
    return [item for publisher in sorted(groups, key=_publisher_order) for item in groups[publisher]]


def prepare_period(items: list[Item]) -> PreparedPeriod | None:
    """Derive and validate a period's rows for all its publishers ahead of its load (grain: one per period).

    A first build or a re-derivation writes every publisher of a period, and deriving their rows (pandera's
    checks, the rows' hashes) can then run in the read-ahead thread while DuckDB loads the period before.
    The load uses it only when it writes exactly these reports; None if the derivation failed here, so that
    the load derives them itself and any error surfaces where it always has.
    """
    return prepare_periods({"": items})


def prepare_periods(items_by_period: dict[str, list[Item]]) -> PreparedPeriod | None:
    """prepare_period for several periods loaded as one batch, in period order (grain: one per group of periods)."""
    ordered = [item for items in items_by_period.values() for item in _write_order(items)]
    try:
        return PreparedPeriod(ordered, _staged(ordered))
    except Exception:  # noqa: BLE001 (the load derives these rows again and raises the error there)
        return None


def periods_derived_elsewhere(con: duckdb.DuckDBPyConnection, periods: list[str]) -> set[str]:
    """The periods of which the warehouse holds no report this code derived: new ones, and ones another version
    of duban's code derived throughout. Their loads write (or check) every publisher: worth preparing ahead."""
    return {
        period for (period,) in con.execute(
            """SELECT p FROM unnest(?::JSON::VARCHAR[]) AS wanted(p)
               WHERE NOT EXISTS (SELECT 1 FROM dim_report r WHERE r.period_key = wanted.p AND r.pipeline_version = ?)""",
            [json_list(periods), pipeline_version()],
        ).fetchall()
    }


def periods_never_loaded(con: duckdb.DuckDBPyConnection, periods: list[str]) -> set[str]:
    """The periods of which the warehouse holds no report at all (loaded, superseded or failed): loads that only add."""
    return {
        period for (period,) in con.execute(
            """SELECT p FROM unnest(?::JSON::VARCHAR[]) AS wanted(p)
               WHERE NOT EXISTS (SELECT 1 FROM dim_report r WHERE r.period_key = wanted.p)""",
            [json_list(periods)],
        ).fetchall()
    }


# reports of periods new to the warehouse loaded as one batch: one pass of the load's statements for all of them
NEW_PERIODS_BATCH = 2000


def load_groups(periods: list[str], never_loaded: set[str], sizes: dict[str, int],
                limit: int = NEW_PERIODS_BATCH) -> list[list[str]]:
    """The periods in order, grouped for loading: consecutive periods the warehouse holds nothing of, up to limit
    reports a group (a larger period alone), and every other period alone."""
    groups: list[list[str]] = []
    reports = 0
    for period in periods:
        size = sizes.get(period, 0)
        joins = groups and period in never_loaded and groups[-1][-1] in never_loaded and reports + size <= limit
        if joins:
            groups[-1].append(period)
            reports += size
        else:
            groups.append([period])
            reports = size
    return groups


def read_ahead_groups(groups: list[list[str]], read: Callable[[str], list[Item]], prepare: set[str]) -> Iterator[
        tuple[list[str], dict[str, list[Item]], PreparedPeriod | None]]:
    """(group, its periods' processed items, their rows prepared) in order, the next group read, and prepared, in a
    second thread while the current one loads. The first group is not prepared: nothing runs beside it. A group of
    several periods (new to the warehouse: its load writes every publisher) is prepared; a single period only if it
    is in prepare, which should hold the periods whose loads write every publisher (periods_derived_elsewhere): for
    a period where one publisher's report changed, rows prepared for all of them would go unused."""
    first = groups[0] if groups else None

    def read_prepared(group: tuple[str, ...]) -> tuple[dict[str, list[Item]], PreparedPeriod | None]:
        items = {period: read(period) for period in group}
        wanted = list(group) != first and (len(group) > 1 or group[0] in prepare)
        return items, (prepare_periods(items) if wanted else None)

    for group, (items, prepared) in read_ahead([tuple(g) for g in groups], read_prepared):
        yield list(group), items, prepared


def load_periods(con: duckdb.DuckDBPyConnection, periods: list[str], read: Callable[[str], list[Item]],
                 sizes: dict[str, int], scoped: bool = False) -> Iterator[tuple[str, PeriodLoad]]:
    """Bring each period in line with its current files, in order (grain: one PeriodLoad per period).

    read(period) gives the period's processed items, sizes the number of its reports. Consecutive periods the
    warehouse holds nothing of are loaded together (load_new_periods); any other period by load_period. The next
    group is read, and its rows derived when its load writes every publisher, while the current one loads.
    """
    groups = load_groups(periods, periods_never_loaded(con, periods), sizes, NEW_PERIODS_BATCH)
    whole = periods_derived_elsewhere(con, periods)
    for group, items, prepared in read_ahead_groups(groups, read, whole):
        if len(group) == 1:
            yield group[0], load_period(con, group[0], items[group[0]], scoped, prepared)
            continue
        try:
            loads = load_new_periods(con, items, prepared)
        except duckdb.Error:
            if in_build_wide(con):  # the build's one transaction is aborted: the caller says which period failed
                raise
            loads = {period: load_period(con, period, items[period], scoped) for period in group}  # finds the refusals
        yield from loads.items()


def load_new_periods(con: duckdb.DuckDBPyConnection, items_by_period: dict[str, list[Item]],
                     prepared: PreparedPeriod | None = None) -> dict[str, PeriodLoad]:
    """Load periods the warehouse holds nothing of as one batch in one transaction (grain: one PeriodLoad per period).

    The same rows as load_period of each period in turn, with the load's statements run once for all of them.
    A refusal by the database raises duckdb.Error with nothing written; load_period then finds which report it was.
    """
    ordered = {period: _write_order(items) for period, items in items_by_period.items()}
    items = [item for group in ordered.values() for item in group]
    period_of = {id(item): period for period, group in ordered.items() for item in group}
    batch, staged, invalid = _staged_from(items, prepared)
    with transaction(con):
        _add_periods(con, list(ordered))
        for item in items:
            if isinstance(item, FailedReport):
                record_failed_report(con, item.source_file, item.sha256, period_of[id(item)], item.error, item.publisher,
                                     item.modified_at)
        for idx, reason in sorted(invalid.items()):
            r = batch[idx].report
            record_failed_report(con, r.source_file, r.sha256, period_of[id(batch[idx])], reason, r.publisher, r.modified_at)
        if staged is not None:
            load_batch(con, staged)
        publishers = sorted({_identity(item)[2] for item in items} - {None})
        for year in sorted({Period.from_key(period).year for period in ordered}):
            drop_unused(con, publishers, year)
        set_meta(con, "pipeline_version", pipeline_version())
        pause_point("load")  # inside the transaction: facts written, not committed
    loads = {period: PeriodLoad() for period in ordered}
    for period, source_file, status, error in con.execute(
        """SELECT period_key, source_file, status, error FROM dim_report
           WHERE period_key IN (SELECT unnest(?::JSON::VARCHAR[])) AND publisher IS NOT NULL""",
        [json_list(ordered)],
    ).fetchall():
        if status == "failed":
            loads[period].failures[source_file] = error
        else:
            loads[period].outcomes[source_file] = status
    return loads


def _staged_from(items: list[Item], prepared: PreparedPeriod | None) -> Staged:
    """_staged(items), taken from prepared when it was derived for exactly these reports in this order."""
    if prepared is not None and len(prepared.items) == len(items) and all(a is b for a, b in zip(prepared.items, items)):
        return prepared.staged
    return _staged(items)


def _derived_as_held(item: Item, held: tuple, hashes: dict[str, str], refused: dict[str, str]) -> bool:
    """Whether this code derives for one file what the warehouse holds for it (its rows' hash, or its refusal)."""
    _, _, status, error, _, derived = held
    if isinstance(item, FailedReport):
        return (status, error) == ("failed", item.error)
    source_file = item.report.source_file
    if source_file in refused:
        return (status, error) == ("failed", refused[source_file])
    return status != "failed" and derived is not None and derived == hashes.get(source_file)


def _same_derivations(groups: dict[str | None, list[Item]], loaded: dict, publishers: list,
                      prepared: PreparedPeriod | None = None) -> set:
    """The publishers among these whose rows and refusals this code derives exactly as the warehouse holds them.

    All their reports are derived and validated as one batch (a report's rows and hash do not depend on the
    others in its batch), so re-deriving a whole warehouse costs one validation per period, not per publisher.
    """
    items = [item for publisher in publishers for item in groups[publisher]]
    batch, staged, invalid = _staged_from(items, prepared)
    hashes = dict(staged.reports.select("source_file", "derived_sha256").iter_rows()) if staged is not None else {}
    refused = {batch[idx].report.source_file: reason for idx, reason in invalid.items()}
    return {
        publisher for publisher in publishers
        if all(_derived_as_held(item, loaded[publisher][_identity(item)[0]], hashes, refused) for item in groups[publisher])
    }


def _publisher_order(publisher: str | None) -> tuple[bool, str]:
    """Publishers by name, reports with no publisher last."""
    return publisher is None, publisher or ""


def _fingerprint(items: list[Item]) -> Fingerprint:
    """The files of a group as (source_file, sha256, modified_at)."""
    return frozenset((s, h, m) for s, h, _, m in map(_identity, items))


def _write(con: duckdb.DuckDBPyConnection, period_key: str, changed: list, groups: dict, refused: dict[int, str],
           prepared: PreparedPeriod | None = None) -> None:
    """Replace the changed publishers' reports of the period in one transaction, leaving out refused ones."""
    items = [item for publisher in changed for item in groups.get(publisher, [])]
    batch, staged, invalid = _staged_from(items, prepared)
    with transaction(con):
        _add_periods(con, [period_key])
        delete_reports(con, period_key, changed)
        for item in items:
            if isinstance(item, FailedReport):
                record_failed_report(con, item.source_file, item.sha256, period_key, item.error, item.publisher, item.modified_at)
        for idx, reason in sorted({**invalid, **refused}.items()):
            r = batch[idx].report
            record_failed_report(con, r.source_file, r.sha256, period_key, reason, r.publisher, r.modified_at)
        if staged is not None:
            load_batch(con, staged.only([i for i in range(len(batch)) if i not in refused]))
        drop_unused(con, [p for p in changed if p is not None], Period.from_key(period_key).year)
        set_meta(con, "pipeline_version", pipeline_version())
        pause_point("load")  # inside the transaction: facts written, not committed


def _refusals(con: duckdb.DuckDBPyConnection, period_key: str, changed: list, groups: dict) -> dict[int, str]:
    """Batch index → the warehouse's refusal, for each report the database will not take (tried alone, rolled back)."""
    items = [item for publisher in changed for item in groups.get(publisher, [])]
    batch = [item for item in items if isinstance(item, ProcessedReport)]
    refused: dict[int, str] = {}
    for idx, item in enumerate(batch):
        try:
            con.execute("BEGIN TRANSACTION")
            _, staged, invalid = _staged([item])
            if not invalid:
                delete_reports(con, period_key, [item.report.publisher])
                _add_periods(con, [period_key])
                load_batch(con, staged)
        except duckdb.Error as error:
            refused[idx] = f"the warehouse refused the report: {error}"
        finally:
            con.execute("ROLLBACK")
    return refused


def load_period(con: duckdb.DuckDBPyConnection, period_key: str, items: list[Item], scoped: bool = False,
                prepared: PreparedPeriod | None = None) -> PeriodLoad:
    """Bring one period in line with its current files (grain of the result: one entry per file).

    items are every file that reports the period now, oldest first. A publisher whose files in the
    warehouse differ from them (added, changed, re-dated, removed, failing) has its reports of the
    period replaced as a whole, so the result never depends on the order of earlier builds; a
    publisher whose files are the same is left untouched. Publishers with no file left are removed,
    unless scoped (a DuckLake shared by many builds): then only the publishers items come from are touched.
    prepared (prepare_period of the same items) spares deriving the rows again when every publisher is written.
    """
    groups = _in_write_order(items)
    loaded = _loaded(con, period_key)
    if scoped:
        loaded = {publisher: held for publisher, held in loaded.items() if publisher in groups}
    version = pipeline_version()
    changed, stale = [], []
    for publisher in sorted(set(groups) | set(loaded), key=_publisher_order):
        held = loaded.get(publisher, {})
        if _fingerprint(groups.get(publisher, [])) != _files(held):
            changed.append(publisher)
        elif any(row[4] != version for row in held.values()):
            stale.append(publisher)  # same files, derived by other code
    same = _same_derivations(groups, loaded, stale, prepared) if stale else set()
    current = [p for p in stale if p in same]  # this code derives the same rows: only the version is noted
    rederived = {p for p in stale if p not in same}
    changed = sorted([*changed, *rederived], key=_publisher_order)
    result = PeriodLoad()
    for publisher, group in groups.items():
        if publisher not in changed:
            for item in group:
                result.outcomes[_identity(item)[0]] = "unchanged"
    if current:
        con.execute(
            """UPDATE dim_report SET pipeline_version = ?
               WHERE period_key = ? AND publisher IN (SELECT unnest(?::JSON::VARCHAR[]))""",
            [version, period_key, json_list(current)],
        )
    if not changed:
        return result
    try:
        _write(con, period_key, changed, groups, {}, prepared)
    except duckdb.Error:
        if in_build_wide(con):  # the build's one transaction is aborted: the caller says which period failed
            raise
        _write(con, period_key, changed, groups, _refusals(con, period_key, changed, groups), prepared)
    result.removed = sorted(source_file for p in changed if p not in groups for source_file in loaded.get(p, {}))
    for source_file, publisher, status, error in con.execute(
        """SELECT source_file, publisher, status, error FROM dim_report
           WHERE period_key = ? AND publisher IN (SELECT unnest(?::JSON::VARCHAR[]))""",
        [period_key, json_list(p for p in changed if p is not None)],
    ).fetchall():
        if status == "failed":
            result.failures[source_file] = error
        else:
            result.outcomes[source_file] = "re-derived" if publisher in rederived else status
    return result
