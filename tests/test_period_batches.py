"""Periods new to the warehouse load together as one batch: the same warehouse as loading them one by one, and a
report the database refuses inside such a batch still fails alone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

import pipelines.period_load as period_load
from pipelines.load import ensure_schema
from pipelines.process import FailedReport, process_reports
from pipelines.reports import read_report
from tests.report_writers import sample_records, write_text
from tests.test_incremental_equals_scratch import CONTENT

WORDING = {"Q1": "第一季度", "Q2": "上半年", "Q3": "前三季度", "Q4": "全年"}
PUBLISHERS = {"jia": "甲市人民政府", "yi": "乙市人民政府", "bing": "丙市人民政府"}


def test_consecutive_new_periods_are_grouped_up_to_the_limit() -> None:
    """Only periods the warehouse holds nothing of join a group, only consecutive ones, and a group stays within the
    limit of reports (a period larger than the limit goes alone)."""
    periods = ["2020Q1", "2020Q2", "2020Q3", "2020Q4", "2021Q1", "2021Q2", "2021Q3"]
    sizes = {"2020Q1": 3, "2020Q2": 3, "2020Q3": 3, "2020Q4": 9, "2021Q1": 2, "2021Q2": 2, "2021Q3": 2}
    never = {"2020Q1", "2020Q2", "2020Q3", "2020Q4", "2021Q2", "2021Q3"}  # 2021Q1 holds reports already
    assert period_load.load_groups(periods, never, sizes, limit=7) == [
        ["2020Q1", "2020Q2"], ["2020Q3"], ["2020Q4"], ["2021Q1"], ["2021Q2", "2021Q3"]
    ]
    assert period_load.load_groups(periods, set(), sizes, limit=100) == [[p] for p in periods]


def _items(raw: Path) -> dict[str, list]:
    """Three publishers' reports of four quarters of 2021 (the texts change from quarter to quarter, one publisher
    files Q3 twice, one Q2 report has a record with no text, one Q2 file has no table), processed: period → items."""
    raw.mkdir()
    for quarter, wording in WORDING.items():
        for short, publisher in PUBLISHERS.items():
            records = sample_records(n=4, start=1)
            if quarter in ("Q3", "Q4"):
                records[0] = replace(records[0], target_text=records[0].target_text + f"（{quarter}修订）")
            if (short, quarter) == ("yi", "Q2"):
                records[1] = replace(records[1], target_text="", progress_text="")
            write_text(raw / f"{short}-2021-{quarter}.txt", f"{publisher}2021年{wording}责任目标完成情况一览表", records)
        if quarter == "Q3":
            write_text(raw / f"jia-2021-{quarter}-re.txt", f"甲市人民政府2021年{wording}责任目标完成情况一览表",
                       sample_records(n=5, start=1))
    (raw / "bing-2021-Q2-draft.txt").write_text("丙市人民政府2021年上半年责任目标完成情况一览表\n草稿，表格未附\n", encoding="utf-8")
    items = process_reports([read_report(p, raw, p.read_bytes()) for p in sorted(raw.iterdir())])
    by_period: dict[str, list] = {}
    for item in items:
        by_period.setdefault(item.period_key if isinstance(item, FailedReport) else item.report.period.key, []).append(item)
    return by_period


def _content(path: Path) -> dict[str, list]:
    with duckdb.connect(str(path)) as con:
        return {name: con.execute(query).fetchall() for name, query in CONTENT.items()}


def _empty_warehouse(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        ensure_schema(con)


def test_new_periods_loaded_as_one_batch_equal_loads_period_by_period(tmp_path: Path, monkeypatch) -> None:
    """Four new quarters go as one batch (one derivation of their rows) and give the same facts, targets and their
    versions, reports (a superseded one included), quarantine and outcomes as four loads one by one."""
    by_period = _items(tmp_path / "raw")
    periods = sorted(by_period)
    one_by_one, batched = tmp_path / "one.duckdb", tmp_path / "batched.duckdb"
    for path in (one_by_one, batched):
        _empty_warehouse(path)
    with duckdb.connect(str(one_by_one)) as con:
        expected = {period: period_load.load_period(con, period, by_period[period]) for period in periods}
    derivations: list[int] = []
    rows_for_tables = period_load.rows_for_tables
    monkeypatch.setattr(period_load, "rows_for_tables", lambda batch: derivations.append(len(batch)) or rows_for_tables(batch))
    sizes = {period: len(items) for period, items in by_period.items()}
    with duckdb.connect(str(batched)) as con:
        got = dict(period_load.load_periods(con, periods, by_period.__getitem__, sizes))
    assert derivations == [sum(sizes.values()) - 1]  # one batch of every report but the draft, which failed before
    assert list(got) == periods
    assert {p: (r.outcomes, r.failures) for p, r in got.items()} == {p: (r.outcomes, r.failures) for p, r in expected.items()}
    assert "superseded" in got["2021Q3"].outcomes.values()
    assert "no header row found" in got["2021Q2"].failures["bing-2021-Q2-draft.txt"]
    assert _content(batched)["quarantine"]
    assert _content(batched) == _content(one_by_one)
    # the batch held every period: loading them again finds nothing new, and nothing changes
    with duckdb.connect(str(batched)) as con:
        again = dict(period_load.load_periods(con, periods, by_period.__getitem__, sizes))
    assert {o for r in again.values() for o in r.outcomes.values()} == {"unchanged"}
    assert _content(batched) == _content(one_by_one)


def test_a_report_the_database_refuses_in_a_batch_fails_alone(tmp_path: Path, monkeypatch) -> None:
    """When the database refuses one report of a batch of new periods, the batch is rolled back and the periods load
    one by one: that report is failed with the database's reason, every other report is loaded."""
    by_period = _items(tmp_path / "raw")
    periods = sorted(by_period)
    warehouse = tmp_path / "w.duckdb"
    _empty_warehouse(warehouse)
    load_batch = period_load.load_batch

    def refusing(con, staged):
        if "yi-2021-Q2.txt" in staged.reports["source_file"].to_list():
            raise duckdb.ConstraintException("Constraint Error: refused for the test")
        return load_batch(con, staged)

    monkeypatch.setattr(period_load, "load_batch", refusing)
    sizes = {period: len(items) for period, items in by_period.items()}
    with duckdb.connect(str(warehouse)) as con:
        got = dict(period_load.load_periods(con, periods, by_period.__getitem__, sizes))
        statuses = dict(con.execute("SELECT source_file, status FROM dim_report").fetchall())
        error = con.execute("SELECT error FROM dim_report WHERE source_file = 'yi-2021-Q2.txt'").fetchone()[0]
    assert got["2021Q2"].failures["yi-2021-Q2.txt"] == error
    assert "refused the report" in error and "refused for the test" in error
    assert statuses.pop("yi-2021-Q2.txt") == "failed"
    assert statuses.pop("bing-2021-Q2-draft.txt") == "failed"
    assert len(statuses) == sum(map(len, by_period.values())) - 2
    assert set(statuses.values()) == {"loaded", "superseded"}


@pytest.mark.parametrize("limit", [1, 2])
def test_batches_of_any_size_give_the_same_warehouse(tmp_path: Path, monkeypatch, limit: int) -> None:
    """Whatever the limit of a batch (here one period at a time, or two quarters), the warehouse is the same."""
    by_period = _items(tmp_path / "raw")
    periods = sorted(by_period)
    sizes = {period: len(items) for period, items in by_period.items()}
    whole, limited = tmp_path / "whole.duckdb", tmp_path / "limited.duckdb"
    for path in (whole, limited):
        _empty_warehouse(path)
    with duckdb.connect(str(whole)) as con:
        list(period_load.load_periods(con, periods, by_period.__getitem__, sizes))
    monkeypatch.setattr(period_load, "NEW_PERIODS_BATCH", max(sizes.values()) * limit)
    with duckdb.connect(str(limited)) as con:
        list(period_load.load_periods(con, periods, by_period.__getitem__, sizes))
    assert _content(limited) == _content(whole)
