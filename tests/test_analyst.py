"""What analysts touch: the example queries, `duban sql`, and a COMMENT on every table, view and column."""

import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DUBAN, REPO

QUERIES = REPO / "warehouse" / "queries"


def duban_sql(warehouse: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DUBAN_WAREHOUSE"}
    return subprocess.run(
        [str(DUBAN), "sql", "--warehouse", str(warehouse), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_every_example_query_has_a_test() -> None:
    assert sorted(p.name for p in QUERIES.glob("*.sql")) == [
        "changes_since_snapshot.sql",  # DuckLake only: tests/test_lake_readers.py
        "department_record.sql",
        "past_deadline_not_done.sql",
        "quarter_over_quarter_slips.sql",
        "stale_reports.sql",
    ]


def test_quarter_over_quarter_slips(history) -> None:
    run, _ = history
    out = duban_sql(run.warehouse, "--file", str(QUERIES / "quarter_over_quarter_slips.sql"))
    assert out.returncode == 0, out.stderr
    rows = [line.split()[:7] for line in out.stdout.splitlines()[2:-1]]
    assert [(r[1], r[2], r[3], r[6]) for r in rows] == [
        ("2021Q2", "2021Q1", "60", "slipped"),
        ("2021Q3", "2021Q2", "62", "slipped"),
        ("2021Q3", "2021Q2", "60", "caught"),
        ("2021Q4", "2021Q3", "76", "slipped"),
    ]
    assert out.stdout.splitlines()[-1] == "(4 rows)"


def test_department_record(history) -> None:
    run, quarters = history
    out = duban_sql(run.warehouse, "-f", str(QUERIES / "department_record.sql"), "--max-rows", "1000")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()[2:-1]]
    housing = [r for r in rows if r[1] == "市住房城乡建设局"]
    assert [r[2] for r in housing] == ["2021Q1", "2021Q2", "2021Q3", "2021Q4"]
    led = sum(r.departments[0] == "市住房城乡建设局" for r in quarters["2021Q1"])
    assert {int(r[3]) for r in housing} == {led}


def test_stale_reports(history) -> None:
    run, _ = history
    out = duban_sql(run.warehouse, "-f", str(QUERIES / "stale_reports.sql"))
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()[2:-1]]
    assert [(r[1], r[3], r[4]) for r in rows] == [("2021Q2", "1", "[61]"), ("2021Q3", "1", "[70]")]


def test_past_deadline_not_done(history) -> None:
    run, _ = history
    out = duban_sql(run.warehouse, "-f", str(QUERIES / "past_deadline_not_done.sql"))
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()[2:-1]]
    assert [(r[2], r[3], r[4], r[5]) for r in rows] == [("76", "2021Q4", "6月底", "2021-06-30")]


def test_sql_never_writes(seed_build) -> None:
    out = duban_sql(seed_build.warehouse, "DELETE FROM quarantine")
    assert out.returncode == 1
    assert "read-only" in out.stderr and "change data through `duban build`" in out.stderr
    assert seed_build.query("SELECT count(*) FROM quarantine") == [(4,)]


def test_sql_without_a_warehouse(tmp_path: Path) -> None:
    out = duban_sql(tmp_path / "none.duckdb", "SELECT 1")
    assert out.returncode == 1
    assert out.stderr.strip() == (
        f"duban sql: no warehouse at {tmp_path / 'none.duckdb'}; run `duban build` first or pass --warehouse FILE"
    )


def test_sql_limits_rows(seed_build) -> None:
    out = duban_sql(seed_build.warehouse, "SELECT target_no FROM v_progress ORDER BY 1", "--max-rows", "5")
    assert out.returncode == 0
    assert out.stdout.splitlines()[-1] == "(5 rows, 49 more not shown)"


@pytest.fixture(scope="module")
def described(seed_build):
    with duckdb.connect(str(seed_build.warehouse), read_only=True) as con:
        yield con


def test_every_table_and_view_has_a_comment_with_its_grain(described) -> None:
    objects = described.execute(
        """SELECT table_name, comment FROM duckdb_tables() WHERE NOT internal
           UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE NOT internal ORDER BY 1"""
    ).fetchall()
    assert len(objects) == 20  # 8 star tables, duban_meta, 11 views
    assert [name for name, comment in objects if not comment] == []
    assert all("one row per" in comment.lower() for _, comment in objects)


def test_every_column_has_a_comment(described) -> None:
    missing = described.execute(
        "SELECT table_name || '.' || column_name FROM duckdb_columns() WHERE NOT internal AND comment IS NULL"
    ).fetchall()
    assert missing == []
    (count,) = described.execute("SELECT count(*) FROM duckdb_columns() WHERE NOT internal").fetchone()
    assert count > 100


def test_the_readme_lists_every_table_and_view(described) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    names = [n for (n,) in described.execute(
        """SELECT table_name FROM duckdb_tables() WHERE NOT internal
           UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1"""
    ).fetchall()]
    missing = [n for n in names if f"`{n}`" not in readme]
    assert missing == []
