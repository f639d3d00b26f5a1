"""The progress flag's real vocabulary through a real build: every word loads with its status, views count by status."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.conftest import run_build
from tests.report_writers import sample_records, write_text
from tests.test_quarantine import STATUS_WORDS


def test_a_report_with_every_status_word_loads_and_views_count_by_status(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    words = list(STATUS_WORDS) + [""]  # and one empty flag, which is quarantined
    records = [
        replace(r, on_schedule=word, departments=["市发展改革委"])
        for r, word in zip(sample_records(n=len(words), start=1), words)
    ]
    write_text(raw / "status-2021-Q3.txt", "测试市人民政府2021年前三季度责任目标完成情况一览表", records)
    run = run_build(raw, tmp_path / "w" / "duban.duckdb", tmp_path / "home")
    assert run.returncode == 0, run.stdout + run.stderr
    loaded = dict(
        (text, (status, flag))
        for text, status, flag in run.query("SELECT status_text, progress_status, on_schedule FROM v_progress")
    )
    flags = {"completed": True, "ahead": True, "on_schedule": True, "behind": False, "other": None}
    assert loaded == {w: (s, flags[s]) for w, s in STATUS_WORDS.items()}
    (reason,) = run.query("SELECT reason FROM quarantine")[0:1]
    assert "on_schedule_text" in reason[0]
    counts = {s: sum(v == s for v in STATUS_WORDS.values()) for s in flags}
    assert run.query(
        """SELECT targets_led, led_on_schedule, led_completed, led_ahead, led_behind, led_other
           FROM v_department_scorecard WHERE department_name = '市发展改革委'"""
    ) == [(
        len(STATUS_WORDS),
        counts["completed"] + counts["ahead"] + counts["on_schedule"],
        counts["completed"], counts["ahead"], counts["behind"], counts["other"],
    )]
