"""README's "BI tools, one recipe each", run for real on loopback: Quack through quack_query.
psql: tests/test_pg_endpoint.py; SQLAlchemy: tests/test_bi.py; Parquet: tests/test_bi.py and
tests/test_parquet_export.py."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.serve import OFFLINE, load_quack
from tests.test_serve import TOKEN, client, free_port
from tests.test_serve_security import start

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


# --- Quack: quack_query for joins and the catalog ---------------------------------------------------------

@pytest.fixture(scope="module")
def quack_port(seed_build):
    port = free_port()
    server = start(seed_build.warehouse, port, env={"DUBAN_TOKEN": TOKEN})
    try:
        server.wait_serving()
        yield port
    finally:
        server.stop()


def quack_query(port: int, sql: str) -> list[tuple]:
    """The README's form: a secret and quack_query, no ATTACH."""
    con = duckdb.connect(config=OFFLINE)
    load_quack(con)
    con.execute(f"CREATE SECRET (TYPE quack, TOKEN '{TOKEN}')")
    return con.execute("FROM quack_query(?, ?)", [f"quack:127.0.0.1:{port}", sql]).fetchall()


def test_quack_query_runs_a_join_on_the_server(quack_port) -> None:
    assert "FROM quack_query('quack:127.0.0.1:9494'," in README
    rows = quack_query(quack_port, """SELECT r.source_file, r.status, p.leader_name, count(*) AS targets
                                      FROM v_progress p JOIN dim_report r USING (report_key)
                                      GROUP BY ALL ORDER BY targets DESC""")
    assert rows == [("heze-2021-Q1.txt", "loaded", "曹升灵", 33), ("heze-2021-Q1.txt", "loaded", "王忠想", 21)]


def test_quack_query_lists_the_served_tables_with_their_comments(quack_port, seed_build) -> None:
    published = dict(seed_build.query(
        """SELECT table_name, comment FROM duckdb_tables() WHERE NOT internal
           UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE NOT internal"""
    ))
    served = dict(quack_query(quack_port, "SELECT table_name, comment FROM duckdb_tables()"))
    assert served == published  # every table and view, views as tables, each with its COMMENT
    assert served["v_progress"].startswith("Flat progress")
    columns = "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal ORDER BY ALL"
    assert quack_query(quack_port, columns) == seed_build.query(columns)


def test_what_an_attached_quack_database_cannot_do_yet(quack_port) -> None:
    """The limits README states for quack 1.5.5 clients; when this fails, quack learned it: update README."""
    con = client(quack_port)
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'duban'").fetchone() == (0,)
    assert con.execute("SHOW ALL TABLES").fetchall() == []
    with pytest.raises(duckdb.Error, match="Multiple streaming scans"):
        con.execute("SELECT count(*) FROM duban.v_progress JOIN duban.dim_report USING (report_key)").fetchall()
    assert con.execute("SELECT count(*) FROM duban.v_progress").fetchone() == (54,)
