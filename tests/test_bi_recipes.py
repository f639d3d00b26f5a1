"""The served snapshot through quack_query: every table and view with the catalog's comments."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.serve import OFFLINE, load_quack
from tests.test_serve import TOKEN, free_port
from tests.test_serve_security import start

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
