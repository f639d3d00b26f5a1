"""One contract per table (schemas/tables/*.toml): the DDL, comments, checks and staged-row model come from it."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines import checks
from pipelines.catalog import catalog
from pipelines.contracts import ddl, fact_value_columns, foreign_keys, star_tables, tables
from pipelines.load import ensure_schema
from schemas.tables import FactTargetProgressRow

GOLDEN = Path(__file__).resolve().parent.parent / "schemas" / "warehouse.ddl.sql"


def test_the_generated_ddl_equals_the_committed_snapshot() -> None:
    """A schema change shows in review as a diff of schemas/warehouse.ddl.sql.

    After changing a contract: python -c "from pipelines.contracts import ddl; open('schemas/warehouse.ddl.sql','w').write(ddl())"
    """
    assert ddl() == GOLDEN.read_text(encoding="utf-8")


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
