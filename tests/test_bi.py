"""BI access: a SQLAlchemy client and a Parquet reader see the same v_progress rows as the warehouse."""

import polars as pl
import sqlalchemy as sa

V_PROGRESS_ORDER = "ORDER BY publisher, period_key, target_no"


def warehouse_rows(run) -> list[tuple]:
    return run.query(f"SELECT * FROM v_progress {V_PROGRESS_ORDER}")


def test_sqlalchemy_reads_reflects_and_cannot_write(history) -> None:
    run, _ = history
    expected = warehouse_rows(run)
    engine = sa.create_engine(f"duckdb:///{run.warehouse}?access_mode=read_only")
    try:
        _check_sqlalchemy(engine, expected)
    finally:
        engine.dispose()  # DuckDB allows one configuration per file in a process


def _check_sqlalchemy(engine: sa.Engine, expected: list[tuple]) -> None:
    with engine.connect() as con:
        inspector = sa.inspect(con)
        assert "fact_target_progress" in inspector.get_table_names()
        assert {"v_progress", "v_target_history", "v_schedule_changes"} <= set(inspector.get_view_names())
        columns = [c["name"] for c in inspector.get_columns("v_progress")]
        assert columns[:5] == ["publisher", "period_key", "year", "quarter", "target_no"]
        rows = con.execute(sa.text(f"SELECT * FROM v_progress {V_PROGRESS_ORDER}")).fetchall()
    assert [tuple(r) for r in rows] == expected
    assert len(rows) == 4 * 54
    with engine.connect() as con:
        try:
            con.execute(sa.text("DELETE FROM quarantine"))
            wrote = True
        except sa.exc.DBAPIError as error:
            wrote = False
            assert "read-only mode" in str(error)
    assert not wrote


def test_parquet_export_matches_the_warehouse(history) -> None:
    run, _ = history
    parquet = run.warehouse.parent / "parquet"
    columns = [name for (name,) in run.query(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'v_progress' ORDER BY column_index"
    )]
    exported = (
        pl.read_parquet(parquet / "v_progress" / "**" / "*.parquet", hive_partitioning=True)
        .select(columns)
        .sort("publisher", "period_key", "target_no")
    )
    assert [tuple(r) for r in exported.rows()] == warehouse_rows(run)
    facts = pl.read_parquet(parquet / "fact_target_progress" / "**" / "*.parquet", hive_partitioning=True)
    assert sorted(facts["period_key"].unique().to_list()) == ["2021Q1", "2021Q2", "2021Q3", "2021Q4"]
    assert facts.height == run.query("SELECT count(*) FROM fact_target_progress")[0][0]
    assert sorted(p.name for p in (parquet / "fact_target_progress").iterdir()) == [
        "period_key=2021Q1", "period_key=2021Q2", "period_key=2021Q3", "period_key=2021Q4",
    ]
    expected_tables = {name for (name,) in run.query(
        "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal"
    )}
    exported_names = {p.stem for p in parquet.glob("*.parquet")} | {p.name for p in parquet.iterdir() if p.is_dir()}
    assert exported_names == expected_tables
    quarantine = pl.read_parquet(parquet / "quarantine.parquet")
    assert quarantine.height == run.query("SELECT count(*) FROM quarantine")[0][0]
