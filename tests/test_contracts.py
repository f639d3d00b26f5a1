"""One contract per table (schemas/tables/*.toml) and one file per view (schemas/views/*.sql): the DDL, comments,
checks, staged-row models and view order come from them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl
import pytest

from pipelines import checks
from pipelines.catalog import catalog
from pipelines.contracts import ContractError, ddl, fact_value_columns, foreign_keys, staged_columns, star_tables, tables
from pipelines.load import ensure_schema
from pipelines.staged_rows import staged_model
from pipelines.views import parse_view, reads, view_names, views
from pipelines.views import _in_creation_order as in_creation_order

FactTargetProgressRow = staged_model("fact_target_progress")

GOLDEN = Path(__file__).resolve().parent.parent / "schemas" / "warehouse.ddl.sql"


def test_the_generated_ddl_equals_the_committed_snapshot() -> None:
    """A schema change (a table's or a view's) shows in review as a diff of schemas/warehouse.ddl.sql.

    After changing a contract or a view: python -c "from pipelines.contracts import ddl; open('schemas/warehouse.ddl.sql','w').write(ddl())"
    """
    golden = GOLDEN.read_text(encoding="utf-8")
    assert ddl() == golden
    for view in views():
        assert f'CREATE OR REPLACE VIEW "{view.name}" AS\n{view.query};' in golden


def test_a_new_database_has_exactly_the_contracts_tables_and_columns(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ensure_schema(con)
        found = {}
        for table, column, dtype, nullable, comment in con.execute(
            """SELECT table_name, column_name, data_type, is_nullable, comment FROM duckdb_columns()
               WHERE NOT internal AND table_name IN (SELECT table_name FROM duckdb_tables()) ORDER BY table_name, column_index"""
        ).fetchall():
            found.setdefault(table, []).append((column, dtype, nullable, comment))
        table_comments = dict(con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall())
    assert set(found) == {t.name for t in tables()}
    for t in tables():
        assert found[t.name] == [
            (c.name, c.type, not c.not_null and c.name not in t.primary_key, c.description) for c in t.columns
        ], t.name
        assert table_comments[t.name] == t.comment and "one row per" in t.comment.lower()


def test_checks_and_load_order_come_from_the_contracts() -> None:
    assert checks.FOREIGN_KEYS == foreign_keys()
    assert ("bridge_target_department", "period_key", "dim_period", "period_key") in checks.FOREIGN_KEYS
    assert checks.UNIQUE_KEYS["fact_target_progress"] == ["target_key", "period_key"]
    order = star_tables()
    for child, _, parent, _ in foreign_keys():
        if child != parent and parent in order and child in order and child != "dim_report":
            assert order.index(parent) < order.index(child), (child, parent)
    assert catalog()["tables"]["fact_target_progress"]["columns"]["status_text"].startswith("The progress flag")


def test_the_staged_fact_model_follows_the_fact_contract() -> None:
    model_columns = list(FactTargetProgressRow.columns)
    assert model_columns == ["report_idx", "target_no", "leader_name", *[c.name for c in fact_value_columns()]]
    status = FactTargetProgressRow.columns["progress_status"]
    assert not status.nullable and any("isin" in str(check) for check in status.checks)
    assert FactTargetProgressRow.columns["on_schedule"].nullable


def test_a_warehouse_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    from pipelines.migrate import SCHEMA_VERSION, NewerWarehouseError, upgrade

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        ensure_schema(con)
        con.execute("UPDATE duban_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
        try:
            upgrade(con)
        except NewerWarehouseError as error:
            assert f"schema version {SCHEMA_VERSION + 1}, newer than this duban's {SCHEMA_VERSION}" in str(error)
        else:
            raise AssertionError("a newer warehouse was not refused")


def test_assets_carry_the_pipeline_version_as_code_version() -> None:
    from assets.definitions import make_definitions
    from pipelines.version import pipeline_version

    definitions = make_definitions(Path("raw"), Path("warehouse/duban.duckdb"))
    versions = {
        key.to_user_string(): version
        for assets in definitions.assets
        for key, version in getattr(assets, "code_versions_by_key", {}).items()
    }
    briefing = versions.pop("briefing_reports")  # versioned by the briefing's own code and template
    assert versions and set(versions.values()) == {pipeline_version()}, versions
    assert briefing and briefing != pipeline_version()


def _first_row(frame: pl.DataFrame, column: str, value) -> pl.DataFrame:
    """The frame with one value of its first row replaced, the column's type kept."""
    first = pl.int_range(pl.len()) == 0
    return frame.with_columns(pl.when(first).then(pl.lit(value)).otherwise(pl.col(column)).cast(frame.schema[column]).alias(column))


@pytest.fixture(scope="module")
def seed_rows():
    """The seed report's staged rows for every table, as the load receives them (all pass their models)."""
    from pipelines.process import process_report
    from pipelines.reports import read_report
    from pipelines.table_rows import rows_for_tables
    from tests.conftest import SEED

    staged, failures = rows_for_tables([process_report(read_report(SEED, SEED.parent))])
    assert failures == {} and staged.quarantine.height > 0
    return staged


BAD_ROWS = [  # (table, staged frame, the change, the check that must refuse it): one case per kind of check
    ("dim_period", "periods", lambda f: _first_row(f, "period_key", "2021Q5"), "str_matches"),  # matches
    ("dim_period", "periods", lambda f: pl.concat([f, f]), "field_uniqueness"),  # [staged] unique, one column
    ("dim_period", "periods", lambda f: _first_row(f, "year", 1989), "greater_than_or_equal_to(1990)"),  # ge
    ("dim_period", "periods", lambda f: _first_row(f, "quarter", 5), "less_than_or_equal_to(4)"),  # le
    ("dim_period", "periods", lambda f: _first_row(f, "year_elapsed_share", 0.0), "greater_than(0"),  # gt
    ("dim_period", "periods", lambda f: _first_row(f, "period_key", None), "not_nullable"),  # primary key
    ("dim_report", "reports", lambda f: _first_row(f, "sha256", "ABC"), "str_matches"),
    ("dim_report", "reports", lambda f: _first_row(f, "publisher", None), "not_nullable"),  # staged_not_null
    ("dim_report", "reports", lambda f: _first_row(f, "records_read", 10_000), "records_reconcile"),  # [staged] checks
    ("dim_report", "reports", lambda f: _first_row(f, "report_idx", -1), "greater_than_or_equal_to(0)"),  # by_report
    ("dim_leader", "leaders", lambda f: _first_row(f, "leader_name", ""), "str_length"),  # min_length
    ("dim_department", "departments", lambda f: pl.concat([f, f.head(1)]), "multiple_fields_uniqueness"),
    ("dim_target", "targets", lambda f: _first_row(f, "target_no", 0), "greater_than_or_equal_to(1)"),
    ("dim_target", "targets", lambda f: _first_row(f, "plan_year", 2101), "less_than_or_equal_to(2100)"),
    ("bridge_target_department", "bridge", lambda f: _first_row(f, "department_name", ""), "str_length"),  # staged_as
    ("bridge_target_department", "bridge", lambda f: _first_row(f, "position", 0), "greater_than_or_equal_to(1)"),
    ("fact_target_progress", "facts", lambda f: _first_row(f, "progress_status", "late"), "isin"),  # isin
    ("fact_target_progress", "facts", lambda f: _first_row(f, "status_text", None), "not_nullable"),  # not_null
    ("fact_target_progress", "facts", lambda f: f.with_columns(pl.col("source_line").cast(pl.String)), "dtype('Int64')"),
    ("quarantine", "quarantine", lambda f: f.with_columns(extra=pl.lit(1)), "column_in_schema"),  # strict
    ("quarantine", "quarantine", lambda f: _first_row(f, "reason", ""), "str_length"),
]


@pytest.mark.parametrize("name, frame, change, check", BAD_ROWS, ids=[f"{c[0]}-{c[3]}" for c in BAD_ROWS])
def test_each_kind_of_staged_check_refuses_a_bad_row(seed_rows, name, frame, change, check) -> None:
    good = getattr(seed_rows, frame)
    staged_model(name).validate(good, lazy=True)
    with pytest.raises(pa.errors.SchemaErrors) as refused:
        staged_model(name).validate(change(good), lazy=True)
    failed = refused.value.failure_cases["check"].to_list()
    assert any(check in f for f in failed), failed


def test_every_staged_table_has_a_model_derived_from_its_contract() -> None:
    staged = [t for t in tables() if t.staged]
    assert {t.name for t in staged} == set(star_tables())
    for t in staged:
        model = staged_model(t.name)
        carried = [c.name for c in staged_columns(t)]
        assert list(model.columns) == (["report_idx"] if t.staged.by_report else []) + carried, t.name
        assert model.name == "".join(p.capitalize() for p in t.name.split("_")) + "Row" and model.description == t.staged.grain
    assert list(staged_model("bridge_target_department").columns) == [
        "report_idx", "target_no", "department_name", "position", "is_lead"
    ]
    with pytest.raises(ContractError, match="no \\[staged\\] section"):
        staged_model("duban_meta")


def test_views_are_created_after_the_views_they_read() -> None:
    order = view_names()
    assert set(order) == {p.stem for p in (GOLDEN.parent / "views").glob("*.sql")}
    for view in views():
        for read in reads(view) & set(order):
            assert order.index(read) < order.index(view.name), (view.name, read)
    assert order.index("v_target_sequence") < order.index("v_schedule_changes")
    # the order comes from what each query reads, not from names
    b = parse_view("v_b", '-- comment = "One row per b."\nSELECT 1 AS x')
    a = parse_view("v_a", '-- comment = "One row per a."\nWITH c AS (SELECT * FROM v_b) SELECT x FROM c')
    assert reads(a) == {"c", "v_b"}
    assert [v.name for v in in_creation_order({"v_a": a, "v_b": b})] == ["v_b", "v_a"]
    looped = parse_view("v_b", '-- comment = "One row per b."\nSELECT * FROM v_a')
    with pytest.raises(ContractError, match="in a circle"):
        in_creation_order({"v_a": a, "v_b": looped})


def test_a_view_file_is_checked_with_a_message_that_says_what_to_fix() -> None:
    with pytest.raises(ContractError, match="needs `comment"):
        parse_view("v_x", "-- [columns]\n-- x = \"An x.\"\nSELECT 1 AS x")
    with pytest.raises(ContractError, match="is not TOML"):
        parse_view("v_x", "-- comment: one row per x\nSELECT 1 AS x")
    with pytest.raises(ContractError, match="v_x.sql: the query does not parse"):
        reads(parse_view("v_x", '-- comment = "One row per x."\nSELEC 1'))
    with pytest.raises(ContractError, match="one SELECT, not 2"):
        reads(parse_view("v_x", '-- comment = "One row per x."\nSELECT 1; SELECT 2'))
    with pytest.raises(ContractError, match="no query"):
        parse_view("v_x", '-- comment = "One row per x."\n')


def test_views_and_their_columns_carry_the_descriptions_of_their_files(tmp_path: Path) -> None:
    shared = catalog()["columns"]
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ensure_schema(con)
        comments = dict(con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
        columns = con.execute(
            """SELECT table_name, column_name, comment FROM duckdb_columns()
               WHERE table_name IN (SELECT view_name FROM duckdb_views() WHERE NOT internal)"""
        ).fetchall()
    assert comments == {v.name: v.comment for v in views()}
    own = {v.name: v.columns for v in views()}
    assert columns and all(comment == (own[view].get(column) or shared[column]) for view, column, comment in columns)
    assert ("v_schedule_changes", "change", own["v_schedule_changes"]["change"]) in columns
    # every description a view file gives names one of its columns
    assert {(v, c) for v in own for c in own[v]} <= {(v, c) for v, c, _ in columns}


def test_a_view_whose_file_is_gone_is_dropped(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ensure_schema(con)
        con.execute("CREATE VIEW v_retired AS SELECT 1 AS x")
        assert ensure_schema(con) == [] and "v_retired" in {n for (n,) in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
        con.execute("UPDATE duban_meta SET value = 'older' WHERE key = 'definitions_applied'")  # the definitions changed
        ensure_schema(con)
        names = {n for (n,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert names == set(view_names())


def test_a_warehouse_with_columns_this_code_does_not_declare_is_refused_and_kept(tmp_path: Path) -> None:
    """A column added by newer code (or a changed contract) would be NULLed by reloads: the build refuses instead."""
    import shutil
    import subprocess

    from tests.conftest import DUBAN, SEED, run_build

    raw, warehouse, home = tmp_path / "raw", tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    assert run_build(raw, warehouse, home).returncode == 0
    with duckdb.connect(str(warehouse)) as con:  # what a build with a contract adding progress_chars leaves
        con.execute("ALTER TABLE fact_target_progress ADD COLUMN progress_chars BIGINT")
        con.execute("UPDATE fact_target_progress SET progress_chars = length(progress_text)")
    (raw / SEED.name).touch()  # the report must be reloaded, which would empty the column
    build = run_build(raw, warehouse, home)
    assert build.returncode == 2, build.stdout + build.stderr
    assert "fact_target_progress.progress_chars" in build.stderr and "newer duban" in build.stderr
    check = subprocess.run([str(DUBAN), "migrate", "--check", "--warehouse", str(warehouse)],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 2 and "progress_chars" in check.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(progress_chars) FROM fact_target_progress").fetchone() == (54,)
