"""README's "BI tools, one recipe each", run for real on loopback: Quack through quack_query, a dbt-duckdb
source, the DuckDB CLI, Harlequin and a JDBC client over the PostgreSQL endpoint. psql: tests/test_pg_endpoint.py; SQLAlchemy: tests/test_bi.py;
Parquet: tests/test_bi.py and tests/test_parquet_export.py.

dbt, the DuckDB CLI and Harlequin are installed, as the README tells users to, into one throwaway venv per
test session (a minute or two; marked slow, so CI runs them and `-m "not slow"` leaves them out); without a
package index those tests are skipped with pip's reason.
DUBAN_BI_VENV=/path/to/venv reuses a venv holding BI_PACKAGES instead."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.serve import OFFLINE, load_quack
from tests.test_serve import TOKEN, client, free_port
from tests.test_pg_endpoint import TOKEN as PG_TOKEN
from tests.test_pg_endpoint import Served
from tests.test_serve_security import start

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
# What the README tells users to install next to duban, pinned to duban's DuckDB so the file format matches.
# dbt-core 1.12 needs dbt-core-experimental-parser, whose build downloads from GitHub; 1.11 installs from PyPI.
BI_PACKAGES = ["dbt-duckdb==1.11.*", "dbt-core==1.11.*", "duckdb==1.5.5", "duckdb-cli==1.5.5", "harlequin==2.17.*"]


def readme_block(after: str, language: str) -> str:
    """The first ```language block after the text `after` in README.md."""
    start = README.index(after)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(README, start)
    assert match, f"no ```{language} block after {after!r} in README.md"
    return match.group(1)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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


# --- the throwaway venv with dbt-duckdb, duckdb-cli and harlequin ------------------------------------------

@pytest.fixture(scope="session")
def bi_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv holding BI_PACKAGES; skipped with pip's words when they cannot be installed.
    DUBAN_BI_VENV=/path/to/venv reuses one made before (local re-runs)."""
    if os.environ.get("DUBAN_BI_VENV"):
        return Path(os.environ["DUBAN_BI_VENV"]) / "bin"
    venv = tmp_path_factory.mktemp("bi-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *BI_PACKAGES],
        capture_output=True, text=True, timeout=900,
    )
    if pip.returncode != 0:
        reason = [line for line in pip.stderr.splitlines() if "ERROR" in line or "rror:" in line][-3:]
        print(f"cannot install {BI_PACKAGES}: {reason}")
        pytest.skip(f"pip cannot install the BI tools here (no package index?): {' | '.join(reason)}")
    return venv / "bin"


@pytest.fixture
def warehouse(seed_build, tmp_path: Path) -> Path:
    """A private copy of the seed's published warehouse, so a tool that wrote would be caught alone."""
    copy = tmp_path / "warehouse" / "duban.duckdb"
    copy.parent.mkdir()
    shutil.copy2(seed_build.warehouse, copy)
    return copy


@pytest.mark.slow  # installs the tools into a venv once per session: a minute or two
def test_dbt_duckdb_reads_the_warehouse_as_a_read_only_source(bi_venv: Path, warehouse: Path, tmp_path: Path) -> None:
    project = tmp_path / "dbt"
    (project / "models").mkdir(parents=True)
    target = tmp_path / "analytics.duckdb"
    profile = (
        readme_block("dbt-duckdb", "yaml")
        .replace("/abs/path/to/warehouse/duban.duckdb", str(warehouse))
        .replace("/abs/path/to/analytics.duckdb", str(target))
    )
    (project / "profiles.yml").write_text(profile)
    (project / "dbt_project.yml").write_text(readme_block("dbt_project.yml", "yaml"))
    (project / "models" / "sources.yml").write_text(readme_block("models/sources.yml", "yaml"))
    (project / "models" / "targets_per_leader.sql").write_text(
        "SELECT leader_name, count(*) AS targets FROM {{ source('duban', 'v_progress') }} GROUP BY leader_name\n"
    )
    before = digest(warehouse)
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    run = subprocess.run(
        [str(bi_venv / "dbt"), "build", "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True, text=True, cwd=project, env=env, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with duckdb.connect(str(target), read_only=True) as con:
        rows = con.execute("SELECT leader_name, targets FROM targets_per_leader ORDER BY targets DESC").fetchall()
    assert rows == [("曹升灵", 33), ("王忠想", 21)]
    assert digest(warehouse) == before
    # The source is attached read-only: a model that writes into it fails and the file stays as it was.
    (project / "models" / "targets_per_leader.sql").write_text("{{ config(database='duban') }} SELECT 1 AS x\n")
    refused = subprocess.run(
        [str(bi_venv / "dbt"), "run", "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True, text=True, cwd=project, env=env, timeout=600,
    )
    assert refused.returncode != 0
    assert "read-only" in refused.stdout + refused.stderr
    assert digest(warehouse) == before


@pytest.mark.slow  # installs the tools into a venv once per session: a minute or two
def test_duckdb_cli_reads_read_only_and_refuses_writes(bi_venv: Path, warehouse: Path) -> None:
    assert "duckdb -readonly warehouse/duban.duckdb" in README
    before = digest(warehouse)
    cli = str(bi_venv / "duckdb")
    assert subprocess.run([cli, "--version"], capture_output=True, text=True).stdout.startswith("v1.5.5")
    count = subprocess.run([cli, "-readonly", "-csv", "-noheader", str(warehouse), "-c",
                            "SELECT count(*) FROM v_progress"], capture_output=True, text=True, timeout=60)
    assert (count.returncode, count.stdout.strip()) == (0, "54")
    write = subprocess.run([cli, "-readonly", str(warehouse), "-c", "DELETE FROM quarantine"],
                           capture_output=True, text=True, timeout=60)
    assert write.returncode == 1
    assert "read-only mode" in write.stderr
    assert digest(warehouse) == before


@pytest.mark.slow  # installs the tools into a venv once per session: a minute or two
def test_harlequin_opens_the_warehouse_read_only(bi_venv: Path, warehouse: Path) -> None:
    assert "harlequin -r warehouse/duban.duckdb" in README
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    usage = subprocess.run([str(bi_venv / "harlequin"), "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert usage.returncode == 0
    plain = re.sub(r"\x1b\[[0-9;]*m", "", usage.stdout)  # rich colours it whatever NO_COLOR says
    assert re.search(r"--read-only\s+-r\s+Connect read-only", plain), plain
    # `harlequin -r FILE` opens FILE through this adapter with read_only=True (Harlequin is a full-screen app).
    check = """
import sys
from harlequin_duckdb import DuckDbAdapter
con = DuckDbAdapter(conn_str=(sys.argv[1],), read_only=True).connect()
print(con.execute("SELECT count(*) FROM v_progress").fetchall().column(0).to_pylist())
try:
    con.execute("DELETE FROM quarantine").fetchall()
except Exception as error:
    print(type(error).__name__, error)
"""
    out = subprocess.run([str(bi_venv / "python"), "-c", check, str(warehouse)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "[54]"
    assert lines[1].startswith("HarlequinQueryError") and "read-only mode" in lines[1]


# --- DBeaver, DataGrip and other JDBC tools: the PostgreSQL JDBC driver --------------------------------------

JDBC_JAR = Path("/usr/share/java/postgresql.jar")  # Debian's libpostgresql-jdbc-java
JDBC_CLIENT = """
import java.sql.*;

public class Recipe {
    public static void main(String[] args) throws Exception {
        try (Connection con = DriverManager.getConnection(args[0], "duban", args[1])) {
            DatabaseMetaData meta = con.getMetaData();  // what a schema browser reads
            try (ResultSet rs = meta.getTables(null, "duban", "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) {
                    System.out.println("object\\t" + rs.getString("TABLE_TYPE") + "\\t" + rs.getString("TABLE_NAME")
                                       + "\\t" + rs.getString("REMARKS"));
                }
            }
            try (Statement st = con.createStatement();
                 ResultSet rs = st.executeQuery(
                     "SELECT leader_name, count(*) FROM v_progress GROUP BY 1 ORDER BY 2 DESC")) {
                while (rs.next()) System.out.println("row\\t" + rs.getString(1) + "\\t" + rs.getLong(2));
            }
            try (Statement st = con.createStatement()) {
                st.executeUpdate("DELETE FROM quarantine");
                System.out.println("wrote");
            } catch (SQLException e) {
                System.out.println("refused\\t" + e.getMessage().split("\\n")[0]);
            }
        }
    }
}
"""


JAVA_PACKAGES = ["default-jdk-headless", "libpostgresql-jdbc-java"]


def java_missing() -> list[str]:
    tools = [("javac", shutil.which("javac")), ("java", shutil.which("java")), (str(JDBC_JAR), JDBC_JAR.exists())]
    return [what for what, found in tools if not found]


@pytest.fixture(scope="module")
def pg_served(postgresql_installed, tmp_path_factory: pytest.TempPathFactory):
    server = Served(tmp_path_factory.mktemp("pg_jdbc"), "--pg-only")
    yield server
    server.stop()


def test_jdbc_client_lists_comments_reads_and_cannot_write(pg_served, tmp_path: Path) -> None:
    """DBeaver's and DataGrip's recipe: the PostgreSQL JDBC driver, URL, user duban, the token as password."""
    missing = java_missing()
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):  # CI runs as root
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", *JAVA_PACKAGES]
        if subprocess.run(install, capture_output=True, env=env, timeout=900).returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=600)
            subprocess.run(install, capture_output=True, env=env, timeout=900)
        missing = java_missing()
    if missing:
        reason = f"no {', '.join(missing)}, and apt-get could not install {' '.join(JAVA_PACKAGES)}"
        print(reason)
        pytest.skip(reason)
    assert "jdbc:postgresql://127.0.0.1:5433/duban" in README
    (tmp_path / "Recipe.java").write_text(JDBC_CLIENT)
    compiled = subprocess.run(["javac", "-cp", str(JDBC_JAR), "Recipe.java"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)
    assert compiled.returncode == 0, compiled.stderr
    url = f"jdbc:postgresql://127.0.0.1:{pg_served.port}/duban"
    run = subprocess.run(["java", "-cp", f"{JDBC_JAR}:{tmp_path}", "Recipe", url, PG_TOKEN], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line.split("\t") for line in run.stdout.splitlines()]
    objects = {name: (kind, remarks) for _, kind, name, remarks in (x for x in lines if x[0] == "object")}
    assert objects["fact_target_progress"][0] == "TABLE" and objects["v_progress"][0] == "VIEW"
    assert objects["v_progress"][1].startswith("Flat progress")
    from pipelines.catalog import catalog

    assert set(objects) == set(catalog()["tables"])  # every table and view of the warehouse
    assert all(remarks != "null" for _, remarks in objects.values())
    assert [x[1:] for x in lines if x[0] == "row"] == [["曹升灵", "33"], ["王忠想", "21"]]
    assert [x[0] for x in lines if x[0] in ("refused", "wrote")] == ["refused"]
    assert "read-only transaction" in next(x[1] for x in lines if x[0] == "refused")
