"""Incremental builds equal a from-scratch build: whatever happened to the raw folder, in whatever order.

A hypothesis state machine adds reports and re-issues (edited, dropped and added targets, older or
newer files), touches, reverts, deletes and corrupts files, building after each step. At the end the
warehouse's facts, targets, reports (with statuses) and quarantine must equal those of a build from
scratch over the same final raw folder. Report keys may differ; content may not.

The builds run the pipeline's own steps in-process (pipelines.local_build: the functions the Dagster
assets call), which is what makes a hundred sequences affordable; tests/test_reissue.py checks the
same promise through real `duban build` processes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from pipelines.local_build import build_locally
from tests.report_writers import Record, sample_records, write_text

PUBLISHERS = ["甲市人民政府", "乙市人民政府"]
PERIODS = {"2021Q1": "第一季度", "2021Q2": "上半年"}
T0 = 1_700_000_000 * 10**9  # a fixed base for modification times (ns)

# Warehouse content compared between the incremental and the from-scratch build, without surrogate keys.
CONTENT = {
    "facts": """SELECT publisher, period_key, target_no, target_text, leader_name, departments, lead_department,
                       deadline_text, deadline_date, progress_text, on_schedule, source_file, source_line,
                       plan_year, target_version FROM v_progress ORDER BY ALL""",
    "targets": """SELECT publisher, plan_year, target_no, version, target_text, text_normalized,
                         valid_from_period, valid_to_period FROM dim_target ORDER BY ALL""",
    "reports": """SELECT r.source_file, r.sha256, r.publisher, r.period_key, r.file_modified_at, r.records_read,
                         r.accepted, r.quarantined, r.skipped_lines, r.status, r.error, s.source_file AS superseded_by
                  FROM dim_report r LEFT JOIN dim_report s ON s.report_key = r.superseded_by ORDER BY ALL""",
    "quarantine": """SELECT r.source_file, q.source_line, q.target_no_text, q.reason, q.column_name, q.check_name,
                            q.failure_value, q.raw_text
                     FROM quarantine q JOIN dim_report r USING (report_key) ORDER BY ALL""",
    "leaders": "SELECT publisher, leader_name FROM dim_leader ORDER BY ALL",
    "departments": "SELECT publisher, department_name FROM dim_department ORDER BY ALL",
    "periods": "SELECT * FROM dim_period ORDER BY ALL",
}


def warehouse_content(path: Path) -> dict[str, list[tuple]]:
    """Every compared table's rows, read-only."""
    with duckdb.connect(str(path), read_only=True) as con:
        return {name: con.execute(sql).fetchall() for name, sql in CONTENT.items()}


def _variant(records: list[Record], change: str, salt: int) -> list[Record]:
    """The records of a re-issue: one target's text edited, targets dropped, targets added, or progress updated."""
    if change == "edit_text":
        k = salt % len(records)
        return [replace(r, target_text=r.target_text + "等载体") if i == k else r for i, r in enumerate(records)]
    if change == "drop_targets" and len(records) > 2:
        return [r for i, r in enumerate(records) if i % 3 != salt % 3]
    if change == "add_targets":
        extra = sample_records(n=2, start=int(records[-1].target_no) + 1, seed=salt)
        return records + extra
    return [replace(r, progress_text=r.progress_text + f"（更新{salt}）") for r in records]


class RawFolderMachine(RuleBasedStateMachine):
    """The raw folder a careless office keeps, built after every change."""

    @initialize()
    def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="duban-stateful-"))
        self.raw = self.root / "raw"
        self.raw.mkdir()
        self.warehouse = self.root / "incremental" / "duban.duckdb"
        self.files: dict[str, tuple[str, str, list[Record]]] = {}  # name → (publisher, period, records)
        self.history: list[bytes] = []  # every content ever written, for reverts
        self.counter = 0

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _write(self, name: str, publisher: str, period: str, records: list[Record], mtime_ns: int) -> None:
        title = f"{publisher}2021年{PERIODS[period]}责任目标完成情况一览表"
        path = write_text(self.raw / name, title, records, per_row=2)
        os.utime(path, ns=(mtime_ns, mtime_ns))
        self.files[name] = (publisher, period, records)
        self.history.append(path.read_bytes())

    def _build(self) -> None:
        build_locally(self.raw, self.warehouse)

    @rule(publisher=st.sampled_from(PUBLISHERS), period=st.sampled_from(sorted(PERIODS)), size=st.integers(3, 6))
    def add_report(self, publisher: str, period: str, size: int) -> None:
        n = self._next()
        records = sample_records(n=size, start=1, seed=n % 3)
        self._write(f"{PUBLISHERS.index(publisher)}-{period}-{n}.txt", publisher, period, records, T0 + n * 10**9)
        self._build()

    @precondition(lambda self: any(recs for _, _, recs in self.files.values()))
    @rule(
        data=st.data(),
        change=st.sampled_from(["edit_text", "drop_targets", "add_targets", "progress"]),
        older=st.booleans(),
    )
    def add_reissue(self, data, change: str, older: bool) -> None:
        name = data.draw(st.sampled_from(sorted(n for n, (_, _, recs) in self.files.items() if recs)))
        publisher, period, records = self.files[name]
        n = self._next()
        when = T0 - n * 10**9 if older else T0 + n * 10**9
        self._write(f"{name}.reissue-{n}.txt", publisher, period, _variant(records, change, n), when)
        self._build()

    @precondition(lambda self: self.files)
    @rule(data=st.data(), older=st.booleans())
    def touch(self, data, older: bool) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        n = self._next()
        when = T0 - n * 10**9 if older else T0 + n * 10**9
        os.utime(self.raw / name, ns=(when, when))
        self._build()

    @precondition(lambda self: self.files and self.history)
    @rule(data=st.data())
    def revert(self, data) -> None:
        """A file gets an earlier content back (an office re-sends the original), as the newest file."""
        name = data.draw(st.sampled_from(sorted(self.files)))
        version = data.draw(st.integers(0, len(self.history) - 1), label="version")
        path = self.raw / name
        path.write_bytes(self.history[version])
        n = self._next()
        os.utime(path, ns=(T0 + n * 10**9, T0 + n * 10**9))
        self._build()

    @precondition(lambda self: self.files)
    @rule(data=st.data())
    def delete(self, data) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        (self.raw / name).unlink()
        del self.files[name]
        self._build()

    @precondition(lambda self: self.files)
    @rule(data=st.data(), kind=st.sampled_from(["garbage", "no_records"]))
    def corrupt(self, data, kind: str) -> None:
        """A file is damaged: bytes that are no text at all, or a table whose records are gone."""
        name = data.draw(st.sampled_from(sorted(self.files)))
        publisher, period, _ = self.files[name]
        path = self.raw / name
        stat = path.stat()
        if kind == "garbage":
            path.write_bytes(bytes(range(128, 256)) * 4)
        else:
            write_text(path, f"{publisher}2021年{PERIODS[period]}责任目标完成情况一览表", [], per_row=2)
        os.utime(path, ns=(stat.st_mtime_ns, stat.st_mtime_ns))
        self.files[name] = (publisher, period, [])
        self._build()

    def teardown(self) -> None:
        try:
            if self.warehouse.exists():
                scratch = self.root / "scratch" / "duban.duckdb"
                build_locally(self.raw, scratch)
                incremental = warehouse_content(self.warehouse)
                # nothing loadable left: a build from scratch writes no warehouse, so every table must be empty
                fresh = warehouse_content(scratch) if scratch.exists() else {table: [] for table in CONTENT}
                for table in CONTENT:
                    assert incremental[table] == fresh[table], f"{table} differs from a build from scratch"
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


RawFolderMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=6,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_incremental_build_equals_build_from_scratch = RawFolderMachine.TestCase
