"""A change to how rows are derived reaches loaded data: the next build re-derives the reports it affects
and leaves the others' rows as they were."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from tests.conftest import DUBAN, REPO, run_build
from tests.report_writers import sample_records, write_text


def _report(raw: Path, name: str, publisher: str, flags: list[str]) -> None:
    records = [replace(r, on_schedule=flag) for r, flag in zip(sample_records(n=len(flags), start=1), flags)]
    write_text(raw / name, f"{publisher}2021年第一季度责任目标完成情况一览表", records)


def _code_copy(tmp_path: Path) -> Path:
    """This checkout's code, copied so that a test may change it."""
    code = tmp_path / "code"
    for package in ("pipelines", "schemas", "assets"):
        shutil.copytree(REPO / package, code / package, ignore=shutil.ignore_patterns("__pycache__"))
    return code


def _migrate_check(warehouse: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(DUBAN), "migrate", "--check", "--warehouse", str(warehouse)],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=120,
    )


def test_a_changed_derivation_re_derives_affected_reports_only(tmp_path: Path) -> None:
    raw, warehouse, home = tmp_path / "raw", tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    raw.mkdir()
    _report(raw, "jia-2021-Q1.txt", "甲市人民政府", ["是", "基本达到", "否"])
    _report(raw, "yi-2021-Q1.txt", "乙市人民政府", ["是", "否", "是"])
    first = run_build(raw, warehouse, home)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.query("SELECT progress_status FROM v_progress WHERE status_text = '基本达到'") == [("other",)]
    yi_before = first.query(
        """SELECT f.* FROM fact_target_progress f JOIN dim_report r USING (report_key)
           WHERE r.publisher = '乙市人民政府' ORDER BY ALL"""
    )
    (old_version,) = first.query("SELECT DISTINCT pipeline_version FROM dim_report")[0]

    # the change: 基本达到 now counts as on schedule
    code = _code_copy(tmp_path)
    words = code / "schemas" / "status_words.toml"
    words.write_text(words.read_text(encoding="utf-8").replace('on_schedule = ["是"', 'on_schedule = ["基本达到", "是"'),
                     encoding="utf-8")
    env = {"PYTHONPATH": str(code)}
    check = _migrate_check(warehouse, env)
    assert check.returncode == 1 and "would re-derive 2 report(s)" in check.stdout, check.stdout + check.stderr

    second = run_build(raw, warehouse, home, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "2 report(s) were derived by another version of duban's code" in second.stdout
    line = next(l for l in second.stdout.splitlines() if "jia-2021-Q1.txt" in l)
    assert "re-derived" in line
    assert "re-derived" not in next(l for l in second.stdout.splitlines() if "yi-2021-Q1.txt" in l)
    assert second.query("SELECT progress_status, on_schedule FROM v_progress WHERE status_text = '基本达到'") == [
        ("on_schedule", True)
    ]
    # the unaffected report keeps its rows and keys, byte for byte; only its version note moved on
    assert second.query(
        """SELECT f.* FROM fact_target_progress f JOIN dim_report r USING (report_key)
           WHERE r.publisher = '乙市人民政府' ORDER BY ALL"""
    ) == yi_before
    versions = second.query("SELECT DISTINCT pipeline_version FROM dim_report")
    assert len(versions) == 1 and versions[0][0] != old_version
    assert second.query("SELECT value FROM duban_meta WHERE key = 'pipeline_version'") == versions

    after = _migrate_check(warehouse, env)
    assert after.returncode == 0 and "is current" in after.stdout, after.stdout
    # the checkout's own code sees the warehouse as derived by another version again
    assert _migrate_check(warehouse, {}).returncode == 1


NEW_COLUMN = '''
[[columns]]
name = "progress_chars"
type = "INTEGER"
ge = 0
backfill = "length(progress_text)"
description = "Characters in the progress text as printed."
'''


def test_adding_a_fact_column_takes_the_contract_and_the_derivation_only(tmp_path: Path) -> None:
    """The README's "How to change the schema" steps, done to a copy of the code: an existing warehouse migrates."""
    raw, warehouse, home = tmp_path / "raw", tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    raw.mkdir()
    _report(raw, "jia-2021-Q1.txt", "甲市人民政府", ["是", "否", "已完成"])
    assert run_build(raw, warehouse, home).returncode == 0

    code = _code_copy(tmp_path)
    contract = code / "schemas" / "tables" / "fact_target_progress.toml"
    contract.write_text(contract.read_text(encoding="utf-8") + NEW_COLUMN, encoding="utf-8")
    normalise = code / "pipelines" / "normalise.py"
    text = normalise.read_text(encoding="utf-8")
    anchor = '        departments.alias("departments"),\n'
    assert anchor in text
    normalise.write_text(
        text.replace(anchor, anchor + '        pl.col("progress_text").str.strip_chars().str.len_chars().cast(pl.Int64).alias("progress_chars"),\n'),
        encoding="utf-8",
    )
    _report(raw, "jia-2021-Q2.txt", "甲市人民政府", ["是", "超进度"])
    (raw / "jia-2021-Q2.txt").write_text(
        (raw / "jia-2021-Q2.txt").read_text(encoding="utf-8").replace("第一季度", "上半年"), encoding="utf-8"
    )
    run = run_build(raw, warehouse, home, env={"PYTHONPATH": str(code)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "migrating the warehouse: add fact_target_progress.progress_chars" in run.stdout
    assert run.query("SELECT period_key, count(*) FROM v_progress GROUP BY 1 ORDER BY 1") == [("2021Q1", 3), ("2021Q2", 2)]
    assert run.query(
        "SELECT count(*) FROM fact_target_progress WHERE progress_chars IS DISTINCT FROM length(progress_text)"
    ) == [(0,)]
    assert run.query(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'fact_target_progress' AND column_name = 'progress_chars'"
    ) == [("Characters in the progress text as printed.",)]
