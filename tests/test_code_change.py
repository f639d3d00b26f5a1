"""A change to how rows are derived reaches loaded data: the next build re-derives the reports it affects
and leaves the others' rows as they were."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import polars as pl

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


def _built_then_copied(tmp_path: Path, flags: list[str]) -> tuple[Path, Path, Path, Path]:
    """A warehouse built by this checkout from one report of 甲市 with these flags, and a copy of the code to change.

    Returns (raw folder, warehouse, Dagster home, code copy).
    """
    raw, warehouse, home = tmp_path / "raw", tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    raw.mkdir()
    _report(raw, "jia-2021-Q1.txt", "甲市人民政府", flags)
    first = run_build(raw, warehouse, home)
    assert first.returncode == 0, first.stdout + first.stderr
    return raw, warehouse, home, _code_copy(tmp_path)


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
    raw, warehouse, home, code = _built_then_copied(tmp_path, ["是", "否", "已完成"])
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


NEW_VIEW = """-- comment = "One row per publisher, period and leader: the targets the leader is in charge of and how many are behind."
--
-- [columns]
-- targets = "Targets the leader is in charge of in the period."
-- behind = "Of those, the targets whose progress_status is behind."

SELECT publisher, period_key, leader_name, count(*) AS targets,
       count(*) FILTER (WHERE progress_status = 'behind') AS behind
FROM v_progress
GROUP BY publisher, period_key, leader_name
"""


def test_a_view_dropped_into_schemas_views_is_created_commented_and_listed(tmp_path: Path) -> None:
    """The README's steps for adding a view, done to a copy of the code: one new file, nothing else touched."""
    raw, warehouse, home, code = _built_then_copied(tmp_path, ["是", "否", "否"])
    # named to sort before v_progress, which it reads: the order of creation must come from the query
    (code / "schemas" / "views" / "v_leader_load.sql").write_text(NEW_VIEW, encoding="utf-8")
    env = {"PYTHONPATH": str(code)}
    run = run_build(raw, warehouse, home, env=env)
    assert run.returncode == 0, run.stdout + run.stderr

    by_leader = run.query(
        """SELECT publisher, period_key, leader_name, count(*), count(*) FILTER (WHERE progress_status = 'behind')
           FROM v_progress GROUP BY ALL ORDER BY ALL"""
    )
    assert run.query("SELECT * FROM v_leader_load ORDER BY ALL") == by_leader
    assert sum(row[4] for row in by_leader) == 2
    assert run.query("SELECT comment FROM duckdb_views() WHERE view_name = 'v_leader_load'") == [
        ("One row per publisher, period and leader: the targets the leader is in charge of and how many are behind.",)
    ]
    shared_leader = run.query(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'v_progress' AND column_name = 'leader_name'"
    )
    assert run.query(
        "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'v_leader_load' ORDER BY column_index"
    ) == [
        ("publisher", "The government body that published the report (e.g. 菏泽市人民政府)."),
        ("period_key", "Reporting period: 2021Q1 for a quarter, 2021M11 for a month-end report."),
        ("leader_name", shared_leader[0][0]),
        ("targets", "Targets the leader is in charge of in the period."),
        ("behind", "Of those, the targets whose progress_status is behind."),
    ]
    # listed wherever duban lists its views: the Parquet export and the catalog that BI endpoints read
    exported = pl.read_parquet(warehouse.parent / "parquet" / "v_leader_load" / "**" / "*.parquet", hive_partitioning=True)
    assert exported.height == len(by_leader)
    listed = subprocess.run(
        [sys.executable, "-c", "from pipelines.catalog import catalog; from pipelines.contracts import ddl; "
         "print('v_leader_load' in catalog()['tables']); print(ddl())"],
        capture_output=True, text=True, env={**os.environ, **env}, cwd=tmp_path, timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    found, snapshot = listed.stdout.split("\n", 1)
    assert found == "True"
    assert 0 < snapshot.index('CREATE OR REPLACE VIEW "v_progress"') < snapshot.index('CREATE OR REPLACE VIEW "v_leader_load"')


_FINGERPRINTS = (
    "from pipelines.version import pipeline_version; from pipelines.catalog import catalog_fingerprint, schema_fingerprint; "
    "print(pipeline_version(), schema_fingerprint(), catalog_fingerprint())"
)


def _fingerprints(code: Path | None) -> tuple[str, str, str]:
    """(pipeline_version, definitions' fingerprint, descriptions' fingerprint) of a copy of the code (None: this checkout)."""
    env = {**os.environ, "PYTHONPATH": str(code)} if code else dict(os.environ)
    cwd = code.parent if code else REPO  # python -c puts the working directory first on the path
    out = subprocess.run([sys.executable, "-c", _FINGERPRINTS], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    assert out.returncode == 0, out.stderr
    return tuple(out.stdout.split())


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_fingerprints_follow_what_a_change_touches(tmp_path: Path) -> None:
    """A view's query or a staged check re-derives reports (pipeline_version); a description re-applies comments only."""
    code = _code_copy(tmp_path)
    view = code / "schemas" / "views" / "v_schedule_changes.sql"
    before = _fingerprints(None)
    assert _fingerprints(code) == before  # the copy is the same code

    _edit(view, 'change = "slipped (是 → 否)', 'change = "Slipped (是 → 否)')
    described = _fingerprints(code)
    assert described[:2] == before[:2] and described[2] != before[2]

    _edit(view, "ELSE 'caught up' END", "ELSE 'recovered' END")
    queried = _fingerprints(code)
    assert queried[0] != described[0] and queried[1] != described[1] and queried[2] == described[2]

    _edit(code / "schemas" / "tables" / "dim_leader.toml", "min_length = 1", "min_length = 2")
    checked = _fingerprints(code)
    assert checked[0] != queried[0] and checked[1:] == queried[1:]  # a staged check is no part of the DDL

    _edit(code / "schemas" / "tables" / "dim_leader.toml", "min_length = 2", "min_length = 1")
    assert _fingerprints(code) == queried  # the version kept for the edited sources is not taken for others


def test_the_kept_pipeline_version_is_taken_only_for_the_sources_it_was_worked_out_from(tmp_path: Path) -> None:
    code = _code_copy(tmp_path)
    version = _fingerprints(code)[0]
    kept = code / "pipelines" / "__pycache__" / "pipeline_version.txt"
    sources, kept_version = kept.read_text(encoding="ascii").split()
    assert kept_version == version
    kept.write_text(f"{sources} 0123456789abcdef\n", encoding="ascii")
    assert _fingerprints(code)[0] == "0123456789abcdef"  # same sources: the kept version is used, nothing parsed
    _edit(code / "pipelines" / "cli.py", '"""The `duban` command line', '"""The duban command line')
    assert _fingerprints(code)[0] == version  # any source changed: worked out again (the CLI is no data module)
    kept.write_text("damaged", encoding="ascii")
    assert _fingerprints(code)[0] == version


def test_a_status_word_under_two_statuses_stops_the_build_with_one_line(tmp_path: Path) -> None:
    raw, warehouse, home, code = _built_then_copied(tmp_path, ["是", "否"])
    before = warehouse.read_bytes()
    words = code / "schemas" / "status_words.toml"
    words.write_text(words.read_text(encoding="utf-8").replace('behind = ["否"', 'behind = ["是", "否"'), encoding="utf-8")
    refused = run_build(raw, warehouse, home, env={"PYTHONPATH": str(code)})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "lists '是' under both on_schedule and behind; keep it under one" in refused.stderr
    assert "Traceback" not in refused.stderr and warehouse.read_bytes() == before


def test_a_run_that_fails_before_loading_claims_no_report_and_names_the_mismatch(tmp_path: Path) -> None:
    """A derivation of the wrong type fails the run: the summary says the reports were not loaded, and why."""
    raw, warehouse, home, code = _built_then_copied(tmp_path, ["是", "否", "已完成"])
    before = warehouse.read_bytes()
    contract = code / "schemas" / "tables" / "fact_target_progress.toml"
    contract.write_text(contract.read_text(encoding="utf-8") + NEW_COLUMN, encoding="utf-8")
    normalise = code / "pipelines" / "normalise.py"
    anchor = '        departments.alias("departments"),\n'
    normalise.write_text(  # len_chars gives UInt32; the contract says BIGINT
        normalise.read_text(encoding="utf-8").replace(anchor, anchor + '        pl.col("progress_text").str.len_chars().alias("progress_chars"),\n'),
        encoding="utf-8",
    )
    _report(raw, "jia-2021-Q2.txt", "甲市人民政府", ["是", "超进度"])
    (raw / "jia-2021-Q2.txt").write_text(
        (raw / "jia-2021-Q2.txt").read_text(encoding="utf-8").replace("第一季度", "上半年"), encoding="utf-8"
    )
    run = run_build(raw, warehouse, home, "--verbose", env={"PYTHONPATH": str(code)})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "not loaded jia-2021-Q2.txt: the run failed before loading it" in run.stdout
    assert "not loaded jia-2021-Q1.txt" in run.stdout  # re-derived by the new code, so part of the failed run too
    claims = [l for l in run.stdout.splitlines() if "jia-2021-Q2.txt" in l and not l.startswith("  not loaded ")]
    assert claims == [], claims
    assert "duban: 0 reports, 0 records read" in run.stdout
    assert "progress_chars" in run.stdout + run.stderr and "declared type" in run.stdout + run.stderr
    assert warehouse.read_bytes() == before


def _three_publishers_built(tmp_path: Path, monkeypatch) -> tuple[Path, list, list[int]]:
    """A warehouse built from three publishers' 2021Q1 reports; those reports processed again; and the list that
    records the size of every batch whose rows period_load derives from now on."""
    import pipelines.period_load as period_load
    from pipelines.process import process_reports
    from pipelines.reports import read_report

    raw, warehouse, home = tmp_path / "raw", tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    raw.mkdir()
    for name, publisher in (("jia-2021-Q1.txt", "甲市人民政府"), ("yi-2021-Q1.txt", "乙市人民政府"), ("bing-2021-Q1.txt", "丙市人民政府")):
        _report(raw, name, publisher, ["是", "否", "是"])
    assert run_build(raw, warehouse, home).returncode == 0
    items = process_reports([read_report(p, raw, p.read_bytes()) for p in sorted(raw.iterdir())])
    derivations: list[int] = []
    rows_for_tables = period_load.rows_for_tables
    monkeypatch.setattr(period_load, "rows_for_tables", lambda batch: derivations.append(len(batch)) or rows_for_tables(batch))
    return warehouse, items, derivations


def test_re_deriving_a_period_validates_its_reports_once_not_publisher_by_publisher(tmp_path: Path, monkeypatch) -> None:
    """Other code, same rows: every publisher of the period stays as it is and only the version is noted, after one
    derivation of the period's reports together (re-deriving a whole warehouse cost one per publisher and period)."""
    import duckdb

    import pipelines.period_load as period_load

    warehouse, items, derivations = _three_publishers_built(tmp_path, monkeypatch)
    con = duckdb.connect(str(warehouse))
    try:
        facts_before = con.execute("SELECT * FROM fact_target_progress ORDER BY ALL").fetchall()
        con.execute("UPDATE dim_report SET pipeline_version = 'other code'")
        result = period_load.load_period(con, "2021Q1", items)
        assert derivations == [3]
        assert result.outcomes == {"bing-2021-Q1.txt": "unchanged", "jia-2021-Q1.txt": "unchanged", "yi-2021-Q1.txt": "unchanged"}
        assert con.execute("SELECT DISTINCT pipeline_version FROM dim_report").fetchall() == [(period_load.pipeline_version(),)]
        assert con.execute("SELECT * FROM fact_target_progress ORDER BY ALL").fetchall() == facts_before
        # one publisher's stored rows differ from what this code derives: that publisher alone is re-derived
        con.execute("UPDATE dim_report SET pipeline_version = 'other code', derived_sha256 = 'x' WHERE source_file = 'yi-2021-Q1.txt'")
        derivations.clear()
        result = period_load.load_period(con, "2021Q1", items)
        assert result.outcomes == {"bing-2021-Q1.txt": "unchanged", "jia-2021-Q1.txt": "unchanged", "yi-2021-Q1.txt": "re-derived"}
        assert derivations == [1, 1]  # the check (the one stale publisher), then its load
        assert con.execute("SELECT count(*) FROM fact_target_progress").fetchone()[0] == len(facts_before)
    finally:
        con.close()


def test_a_period_prepared_ahead_is_used_only_for_exactly_the_reports_written(tmp_path: Path, monkeypatch) -> None:
    """The load derives a period's rows once when they were prepared ahead (in the read-ahead thread) for the same
    reports, and derives them itself for any other set: the warehouse ends the same either way."""
    import duckdb

    import pipelines.period_load as period_load

    warehouse, items, derivations = _three_publishers_built(tmp_path, monkeypatch)
    con = duckdb.connect(str(warehouse))
    try:
        facts_before = con.execute("SELECT * EXCLUDE (report_key) FROM fact_target_progress ORDER BY ALL").fetchall()
        # every publisher derived by other code into other rows: all three are re-derived, from the prepared rows
        con.execute("UPDATE dim_report SET pipeline_version = 'other code', derived_sha256 = 'x'")
        prepared = period_load.prepare_period(items)
        assert derivations == [3]
        result = period_load.load_period(con, "2021Q1", items, prepared=prepared)
        assert derivations == [3]  # neither the check nor the write derived them again
        assert set(result.outcomes.values()) == {"re-derived"}
        assert con.execute("SELECT * EXCLUDE (report_key) FROM fact_target_progress ORDER BY ALL").fetchall() == facts_before
        # one publisher differs: the prepared rows (all three) serve the check, the write derives that one alone
        con.execute("UPDATE dim_report SET pipeline_version = 'other code'")
        con.execute("UPDATE dim_report SET derived_sha256 = 'x' WHERE source_file = 'yi-2021-Q1.txt'")
        derivations.clear()
        prepared = period_load.prepare_period(list(reversed(items)))  # any order in: prepared in the load's order
        result = period_load.load_period(con, "2021Q1", items, prepared=prepared)
        assert derivations == [3, 1]
        assert result.outcomes == {"bing-2021-Q1.txt": "unchanged", "jia-2021-Q1.txt": "unchanged", "yi-2021-Q1.txt": "re-derived"}
        assert con.execute("SELECT * EXCLUDE (report_key) FROM fact_target_progress ORDER BY ALL").fetchall() == facts_before
    finally:
        con.close()


def test_periods_are_prepared_ahead_only_when_their_load_writes_every_publisher(tmp_path: Path, monkeypatch) -> None:
    """Rows are prepared in the read-ahead thread for new periods and for periods other code derived throughout,
    never for the first period (nothing runs beside it) nor for a period this code already derived."""
    import duckdb

    import pipelines.period_load as period_load

    warehouse, _, _ = _three_publishers_built(tmp_path, monkeypatch)
    with duckdb.connect(str(warehouse)) as con:
        assert period_load.periods_derived_elsewhere(con, ["2021Q1", "2021Q2"]) == {"2021Q2"}
        con.execute("UPDATE dim_report SET pipeline_version = 'other code' WHERE source_file = 'yi-2021-Q1.txt'")
        assert period_load.periods_derived_elsewhere(con, ["2021Q1", "2021Q2"]) == {"2021Q2"}  # two still current
        con.execute("UPDATE dim_report SET pipeline_version = 'other code'")
        assert period_load.periods_derived_elsewhere(con, ["2021Q1", "2021Q2"]) == {"2021Q1", "2021Q2"}
    groups = [["2021Q1"], ["2021Q2"], ["2021Q3"], ["2021Q4"], ["2022Q1", "2022Q2"]]
    got = list(period_load.read_ahead_groups(groups, lambda p: [], {"2021Q1", "2021Q3"}))
    assert [(group, prepared is not None) for group, _, prepared in got] == [
        (["2021Q1"], False), (["2021Q2"], False), (["2021Q3"], True), (["2021Q4"], False), (["2022Q1", "2022Q2"], True)
    ]  # a group of several periods is new to the warehouse: its load writes every publisher
