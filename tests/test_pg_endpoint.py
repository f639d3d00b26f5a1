"""`duban serve --pg-port` as a real process: psql, psycopg and SQLAlchemy read it; writes, files and bad passwords are
refused; clients connected across publishes see the new data with no failed query."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.pg_server import port_in_use
from tests.conftest import DUBAN, SEED, run_build
from tests.report_writers import sample_records, write_text
from tests.test_serve import ServerOutput, free_port

psycopg = pytest.importorskip("psycopg")

TOKEN = "pg-test-token-0123456789"
READY = "duban serve: PostgreSQL at"
SWAPPED = "PostgreSQL serves the new snapshot"


def test_duckdb_types_map_to_postgresql_types() -> None:
    from pipelines.pg_endpoint import pg_type

    assert [pg_type(t) for t in ("VARCHAR[]", "DATE", "BOOLEAN", "TIMESTAMP", "DECIMAL(18,3)", "INTEGER[]")] == [
        "text[]", "date", "boolean", "timestamp", "numeric(18,3)", "integer[]"]
    assert pg_type("STRUCT(a INTEGER)") is None and pg_type("VARCHAR[][]") is None  # sent as text


def test_missing_postgresql_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import pg_server
    from pipelines.serve import ServeError

    monkeypatch.setattr(pg_server.shutil, "which", lambda name: None)
    with pytest.raises(ServeError, match="apt-get install postgresql"):
        pg_server.bindir(installed=tmp_path)


class Served:
    """One `duban serve --pg-port` process over a warehouse built from its own raw folder."""

    def __init__(self, root: Path, *extra: str, build: bool = True):
        self.raw, self.warehouse, self.home = root / "raw", root / "w" / "duban.duckdb", root / "home"
        if build:
            self.raw.mkdir(parents=True)
            shutil.copy2(SEED, self.raw / SEED.name)
            built = run_build(self.raw, self.warehouse, self.home)
            assert built.returncode == 0, built.stdout + built.stderr
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(DUBAN), "serve", "--warehouse", str(self.warehouse), "--pg-port", str(self.port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "DUBAN_TOKEN": TOKEN},
        )
        self.output = ServerOutput(self.proc)
        try:
            self.ready = self.output.wait_for(READY)
        except BaseException:
            self.stop()
            raise
        print(self.ready)

    def connect(self, **kwargs):
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="duban", dbname="duban", password=TOKEN, **kwargs
        )

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not stopped within 60s; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                return None
        return self.proc.returncode


@pytest.fixture(scope="module")
def served(postgresql_installed, tmp_path_factory: pytest.TempPathFactory):
    server = Served(tmp_path_factory.mktemp("pg_served"), "--pg-only")
    yield server
    assert server.stop() == 0
    server.output.wait_for("duban serve: stopped", timeout=10)
    assert not port_in_use("127.0.0.1", server.port)  # PostgreSQL stopped with it


def psql(served: Served, command: str, password: str = TOKEN) -> subprocess.CompletedProcess:
    """psql -c for each ';'-separated statement (each its own transaction), stopping at the first error."""
    from pipelines.pg_server import bindir

    binary = shutil.which("psql") or str(bindir() / "psql")
    commands = [x for part in command.split("; ") for x in ("-c", part)]
    return subprocess.run(
        [binary, "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(served.port), "-U", "duban", "-d", "duban",
         *commands],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"},
    )


def test_psql_lists_and_describes_the_warehouse(served: Served) -> None:
    tables = psql(served, r"\dt")
    assert tables.returncode == 0, tables.stderr
    for name in ("fact_target_progress", "dim_target", "dim_period", "dim_report", "quarantine"):
        assert f" {name} " in tables.stdout
    assert "v_progress" not in tables.stdout
    views = psql(served, r"\dv")
    assert views.returncode == 0, views.stderr
    for name in ("v_progress", "v_target_history", "v_schedule_changes", "v_stale_progress", "v_department_scorecard"):
        assert f" {name} " in views.stdout and "| view" in views.stdout
    described = psql(served, r"\d+ v_progress")
    assert described.returncode == 0, described.stderr
    assert "Responsible departments (责任单位) in source order; the first leads." in described.stdout
    assert re.search(r"^ departments +\| text\[\] ", described.stdout, re.MULTILINE), described.stdout
    from pipelines.catalog import catalog

    with served.connect() as con:
        assert con.execute(
            "SELECT obj_description('v_progress'::regclass), col_description('v_progress'::regclass, 1)"
        ).fetchone() == (catalog()["tables"]["v_progress"]["comment"], catalog()["columns"]["publisher"])


def test_psql_join_and_chinese_aggregate(served: Served) -> None:
    counts = psql(served, "SELECT leader_name || '=' || count(*) FROM v_progress GROUP BY leader_name ORDER BY 1")
    assert counts.returncode == 0, counts.stderr
    assert "曹升灵=33" in counts.stdout and "王忠想=21" in counts.stdout
    joined = psql(
        served,
        """SELECT count(*) || ' rows' FROM fact_target_progress f
           JOIN dim_target t USING (target_key) JOIN dim_leader l USING (leader_key)
           JOIN dim_period p USING (period_key) WHERE l.leader_name = '曹升灵' AND p.year = 2021""",
    )
    assert joined.returncode == 0, joined.stderr
    assert "33 rows" in joined.stdout


@pytest.mark.parametrize(
    "statement, refusal",
    [
        ("INSERT INTO dim_period (period_key) VALUES ('x')", "read-only transaction"),
        ("UPDATE quarantine SET reason = 'x'", "read-only transaction"),
        ("CREATE TABLE x (a int)", "read-only transaction"),
        ("CREATE TEMP TABLE x (a int)", "read-only transaction"),
        ("SET default_transaction_read_only = off; UPDATE quarantine SET reason = 'x'", "permission denied for table"),
        ("SET default_transaction_read_only = off; CREATE TABLE x (a int)", "permission denied for schema duban"),
        ("SET default_transaction_read_only = off; CREATE TABLE public.x (a int)", "permission denied for schema public"),
        ("SET default_transaction_read_only = off; CREATE TEMP TABLE x (a int)", "permission denied to create temporary"),
        ("COPY dim_period TO '/tmp/duban-pg-test-x'", "pg_write_server_files"),
        ("SELECT pg_read_file('/etc/passwd')", "permission denied for function pg_read_file"),
        ("SELECT * FROM duban_rows.v_progress", "permission denied for schema duban_rows"),
    ],
)
def test_psql_is_refused_writes_and_files(served: Served, statement: str, refusal: str) -> None:
    out = psql(served, statement)
    assert out.returncode != 0
    assert refusal in out.stderr
    assert not Path("/tmp/duban-pg-test-x").exists()


def test_wrong_password_and_other_databases_are_refused(served: Served) -> None:
    out = psql(served, "SELECT 1", password="not-the-token-at-all")
    assert out.returncode != 0
    assert 'password authentication failed for user "duban"' in out.stderr
    with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry"):
        psycopg.connect(host="127.0.0.1", port=served.port, user="duban", dbname="postgres", password=TOKEN)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=served.port, user="duban_owner", dbname="duban", password=TOKEN)


def test_psycopg_reads_arrays_as_lists(served: Served) -> None:
    with served.connect() as con:
        rows = con.execute("SELECT target_no, departments FROM v_progress ORDER BY target_no").fetchall()
        types = dict(con.execute(
            """SELECT attrelid::regclass::text || '.' || attname, format_type(atttypid, atttypmod) FROM pg_attribute
               WHERE attrelid IN ('v_progress'::regclass, 'dim_report'::regclass, 'dim_period'::regclass)
               AND attnum > 0""").fetchall())
    assert types["v_progress.departments"] == "text[]"
    assert types["v_progress.deadline_date"] == "date"
    assert types["v_progress.on_schedule"] == "boolean"
    assert types["v_progress.target_no"] == "integer"
    assert types["dim_report.file_modified_at"] == "timestamp without time zone"
    assert types["dim_period.year_elapsed_share"] == "double precision"
    assert len(rows) == 54
    assert all(isinstance(departments, list) and departments for _, departments in rows)
    with duckdb.connect(str(served.warehouse), read_only=True) as con:
        assert rows == con.execute("SELECT target_no, departments FROM v_progress ORDER BY target_no").fetchall()


def test_sqlalchemy_reflects_and_reads_what_duckdb_holds(served: Served) -> None:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(f"postgresql+psycopg://duban:{TOKEN}@127.0.0.1:{served.port}/duban")
    try:
        inspector = inspect(engine)
        assert inspector.default_schema_name == "duban"
        assert {"fact_target_progress", "dim_target", "quarantine"} <= set(inspector.get_table_names())
        assert {"v_progress", "v_target_history", "v_department_scorecard"} <= set(inspector.get_view_names())
        columns = {c["name"]: c for c in inspector.get_columns("v_progress")}
        with duckdb.connect(str(served.warehouse), read_only=True) as con:
            expected = [name for (name,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = 'v_progress' ORDER BY column_index").fetchall()]
            wanted = con.execute(
                "SELECT publisher, period_key, target_no, leader_name, departments, deadline_date, on_schedule "
                "FROM v_progress").fetchall()
        assert list(columns) == expected
        assert columns["departments"]["comment"].startswith("Responsible departments")
        assert inspector.get_table_comment("v_progress")["text"]
        with engine.connect() as con:
            got = con.execute(text(
                "SELECT publisher, period_key, target_no, leader_name, departments, deadline_date, on_schedule "
                "FROM v_progress")).fetchall()
        key = lambda row: tuple(map(str, row))  # noqa: E731
        assert sorted(map(tuple, got), key=key) == sorted(wanted, key=key)
    finally:
        engine.dispose()


def test_bounded_load(served: Served) -> None:
    queries = [
        "SELECT leader_name, count(*) FROM v_progress GROUP BY 1",
        "SELECT count(*) FROM fact_target_progress f JOIN dim_target t USING (target_key) WHERE f.on_schedule",
        "SELECT * FROM v_department_scorecard",
        "SELECT departments FROM v_progress WHERE '市科技局' = ANY (departments)",
    ]
    latencies: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        try:
            with served.connect(autocommit=True) as con:
                for i in range(50):
                    started = time.perf_counter()
                    rows = con.execute(queries[(n + i) % len(queries)]).fetchall()
                    elapsed = time.perf_counter() - started
                    assert rows
                    with lock:
                        latencies.append(elapsed)
        except BaseException as error:  # noqa: BLE001 - reported below
            with lock:
                failures.append(error)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert failures == []
    assert len(latencies) == 8 * 50
    latencies.sort()
    print(f"8 clients x 50 queries: p50 {latencies[199] * 1000:.1f} ms, p95 {latencies[379] * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms")


def test_refuses_a_port_in_use(served: Served, tmp_path: Path) -> None:
    out = subprocess.run(
        [str(DUBAN), "serve", "--warehouse", str(served.warehouse), "--pg-port", str(served.port), "--pg-only"],
        capture_output=True, text=True, env={**os.environ, "DUBAN_TOKEN": TOKEN}, timeout=60,
    )
    assert out.returncode == 1
    assert f"port {served.port} on 127.0.0.1 is already in use" in out.stderr


QUARTERS = [("2021Q2", "第二季度"), ("2021Q3", "第三季度"), ("2021Q4", "第四季度")]


def test_clients_see_each_publish_with_no_failed_query(postgresql_installed, tmp_path: Path) -> None:
    # with the Quack server too: the PostgreSQL endpoint runs alongside it
    server = Served(tmp_path, "--port", str(free_port()))
    try:
        stop = threading.Event()
        seen: list[tuple[float, list[str]]] = []
        failures: list[BaseException] = []
        count = 0

        def loop(autocommit: bool) -> None:
            nonlocal count
            try:
                # autocommit like BI tools; the other keeps one transaction open for its whole life
                with server.connect(autocommit=autocommit) as con:
                    while not stop.is_set():
                        started = time.monotonic()
                        periods = [p for (p,) in con.execute(
                            "SELECT DISTINCT period_key FROM v_progress ORDER BY 1").fetchall()]
                        con.execute("SELECT count(*) FROM fact_target_progress JOIN dim_period USING (period_key)")
                        if autocommit:
                            seen.append((started, periods))
                        count += 1
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)

        threads = [threading.Thread(target=loop, args=(autocommit,)) for autocommit in (True, False)]
        for thread in threads:
            thread.start()
        expected = ["2021Q1"]
        for period, quarter in QUARTERS:
            write_text(server.raw / f"test-{period}.txt", f"测试市人民政府2021年责任目标{quarter}工作推进情况一览表",
                       sample_records(n=20, start=1))
            assert run_build(server.raw, server.warehouse, server.home).returncode == 0
            swapped = server.output.wait_for(SWAPPED)
            print(swapped)
            at = time.monotonic()
            expected.append(period)
            deadline = at + 10
            while not any(t > at for t, _ in seen) and time.monotonic() < deadline:
                time.sleep(0.05)
            after = [periods for t, periods in seen if t > at]
            assert after and after[0] == expected
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == []
        print(f"{count} queries across 3 publishes, none failed")
        with server.connect(autocommit=True) as con:  # the old schemas go once no transaction reads them
            deadline = time.monotonic() + 10
            while con.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'duban%old%'").fetchone() != (0,):
                assert time.monotonic() < deadline, "old snapshots were not dropped"
                time.sleep(0.2)
    finally:
        assert server.stop() == 0
    assert not port_in_use("127.0.0.1", server.port)


def test_postgres_dies_with_duban_serve_and_a_restart_recovers(postgresql_installed, tmp_path: Path) -> None:
    server = Served(tmp_path, "--pg-only")
    try:
        server.proc.kill()  # no chance to stop PostgreSQL itself
        server.proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while port_in_use("127.0.0.1", server.port):
            assert time.monotonic() < deadline, "PostgreSQL outlived duban serve"
            time.sleep(0.2)
        again = Served(tmp_path, "--pg-only", build=False)  # over the cluster folder the killed one left
        try:
            with again.connect() as con:
                assert con.execute("SELECT count(*) FROM v_progress").fetchone() == (54,)
        finally:
            assert again.stop() == 0
    finally:
        server.stop()


def test_duban_serve_pg_only_fails_when_postgres_dies(postgresql_installed, tmp_path: Path) -> None:
    server = Served(tmp_path, "--pg-only")
    try:
        with server.connect() as con:
            backend = con.execute("SELECT pg_backend_pid()").fetchone()[0]
            # read while the session is open: its backend process ends with the connection
            postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        os.kill(postmaster, signal.SIGKILL)
        assert server.proc.wait(timeout=30) == 1
        server.output.wait_for("PostgreSQL exited unexpectedly", timeout=10)
    finally:
        server.stop()


def test_a_token_holder_gets_bounded_sessions_and_cannot_lift_the_temp_space_cap(served: Served) -> None:
    shown = psql(served, "SHOW statement_timeout; SHOW idle_in_transaction_session_timeout; SHOW temp_file_limit; "
                         "SHOW client_connection_check_interval")
    assert shown.returncode == 0, shown.stderr
    values = [line.strip() for line in shown.stdout.splitlines() if line.strip() and not set(line.strip()) <= {"-"}]
    assert ["5min", "10min", "1GB", "2s"] == [v for v in values if v in ("5min", "10min", "1GB", "2s")], values
    lifted = psql(served, "SET temp_file_limit = -1")
    assert lifted.returncode != 0 and "permission denied to set parameter" in lifted.stderr
    slow = psql(served, "SET statement_timeout = '1s'; SELECT pg_sleep(5)")
    assert slow.returncode != 0 and "canceling statement due to statement timeout" in slow.stderr
