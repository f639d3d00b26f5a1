"""`duban sql` only reads the published warehouse: no writes, no settings, no files unless --allow-files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.test_analyst import duban_sql

READ_ONLY = "duban sql is read-only and runs only SELECT queries; change data through `duban build`"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def working(seed_build) -> Path:
    path = seed_build.warehouse.parent / ".work" / seed_build.warehouse.name
    assert path.exists()
    return path


def refused(out, message: str) -> None:
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.splitlines() == [f"duban sql: {message}"]


@pytest.mark.parametrize("allow_files", [[], ["--allow-files"]])
def test_copy_to_writes_no_file(seed_build, tmp_path: Path, allow_files: list[str]) -> None:
    target = tmp_path / "out.csv"
    out = duban_sql(seed_build.warehouse, *allow_files, f"COPY quarantine TO '{target}'")
    refused(out, f"refused COPY: {READ_ONLY}")
    assert not target.exists()


@pytest.mark.parametrize("allow_files", [[], ["--allow-files"]])
def test_attaching_the_working_database_changes_nothing(seed_build, working: Path, allow_files: list[str]) -> None:
    before = digest(working)
    out = duban_sql(seed_build.warehouse, *allow_files,
                    f"ATTACH '{working}' AS w (READ_WRITE); UPDATE w.quarantine SET reason = 'x'")
    refused(out, f"refused ATTACH: {READ_ONLY}")
    out = duban_sql(seed_build.warehouse, *allow_files, "SELECT 1; UPDATE quarantine SET reason = 'x'")
    refused(out, f"refused UPDATE: {READ_ONLY}")
    assert digest(working) == before
    assert seed_build.query("SELECT count(*) FROM quarantine WHERE reason = 'x'") == [(0,)]


@pytest.mark.parametrize(
    "sql, kind",
    [
        ("SET threads = 1", "SET"),
        ("SET GLOBAL enable_external_access = true", "SET"),
        ("CREATE TEMP TABLE t AS SELECT 1", "CREATE"),
        ("CREATE TEMP MACRO m() AS 1", "CREATE"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("DELETE FROM quarantine", "DELETE"),
    ],
)
def test_statements_other_than_select_are_refused(seed_build, sql: str, kind: str) -> None:
    refused(duban_sql(seed_build.warehouse, sql), f"refused {kind}: {READ_ONLY}")


def test_several_statements_are_refused_not_silently_dropped(seed_build) -> None:
    out = duban_sql(seed_build.warehouse, "SELECT 1; SELECT 2")
    refused(out, "refused: duban sql runs one query at a time, and this text holds 2")


def test_files_are_out_of_reach_by_default(seed_build, tmp_path: Path) -> None:
    csv = tmp_path / "extra.csv"
    csv.write_text("target_no,note\n1,hello\n")
    refused(duban_sql(seed_build.warehouse, f"SELECT * FROM read_csv('{csv}')"),
            "refused read_csv(): reading files needs --allow-files")
    refused(duban_sql(seed_build.warehouse, "SELECT * FROM read_text('/etc/passwd')"),
            "refused read_text(): reading files needs --allow-files")
    out = duban_sql(seed_build.warehouse, f"FROM '{csv}'")
    assert out.returncode == 1
    assert len(out.stderr.splitlines()) == 1 and out.stderr.startswith("duban sql: ")


def test_allow_files_reads_a_csv_next_to_the_warehouse(seed_build, tmp_path: Path) -> None:
    csv = tmp_path / "extra.csv"
    csv.write_text("target_no,note\n1,hello\n")
    out = duban_sql(seed_build.warehouse, "--allow-files",
                    f"SELECT e.note, count(*) FROM quarantine q CROSS JOIN read_csv('{csv}') e GROUP BY 1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[2].split() == ["hello", "4"]


def test_settings_and_logging_functions_are_refused(seed_build) -> None:
    refused(duban_sql(seed_build.warehouse, "--allow-files", "SELECT * FROM enable_logging()"),
            "refused enable_logging(): duban sql only reads the warehouse (and files with --allow-files)")


def test_explain_of_a_select_runs_and_of_a_copy_is_refused(seed_build, tmp_path: Path) -> None:
    assert duban_sql(seed_build.warehouse, "EXPLAIN SELECT count(*) FROM quarantine").returncode == 0
    target = tmp_path / "out.csv"
    out = duban_sql(seed_build.warehouse, "--allow-files", f"EXPLAIN ANALYZE COPY quarantine TO '{target}'")
    refused(out, "refused EXPLAIN of something other than a SELECT: duban sql is read-only; change data through `duban build`")
    assert not target.exists()


def test_errors_are_one_line(seed_build) -> None:
    out = duban_sql(seed_build.warehouse, "SELEC 1")
    refused(out, 'Parser Error: syntax error at or near "SELEC"')
    out = duban_sql(seed_build.warehouse, "SELECT nope FROM quarantine")
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1


def test_a_refusal_names_the_statement_after_leading_comments(seed_build, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    out = duban_sql(seed_build.warehouse, f"/* nightly */ -- export\n COPY quarantine TO '{target}'")
    refused(out, f"refused COPY: {READ_ONLY}")
    assert not target.exists()


def test_a_bare_pivot_is_refused_with_the_form_that_runs_and_that_form_runs(seed_build) -> None:
    out = duban_sql(seed_build.warehouse, "PIVOT v_progress ON progress_status USING count(*)")
    refused(out, "refused a bare PIVOT (it creates a type first): write it as SELECT … FROM t "
                 "PIVOT (aggregate FOR column IN (values…)), which duban sql runs")
    works = duban_sql(seed_build.warehouse, "SELECT * FROM (SELECT period_key, progress_status FROM v_progress) "
                      "PIVOT (count(*) FOR progress_status IN ('on_schedule', 'behind'))")
    assert works.returncode == 0, works.stderr
    assert "2021Q1" in works.stdout
