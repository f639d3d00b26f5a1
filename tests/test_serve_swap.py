"""`duban serve` (Quack) across publishes, with DuckDB clients as separate processes that stay attached: new
quarters and added tables or columns reach them with no failed query; a removed or retyped column restarts the
server, and why it must."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.serve import OFFLINE, load_quack
from tests.conftest import REPO, run_build
from tests.report_writers import sample_records, write_text
from tests.test_serve import ORDER, TOKEN, client, free_port, served  # noqa: F401 (served is a fixture)

DIGEST = f"SELECT count(*), md5(string_agg(p::VARCHAR, '|' {ORDER})) FROM {{table}} p"
LOOP = """
import json, sys
from pathlib import Path
from tests.test_serve import client
port, stop, final = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
con = client(port)
every = [
    "SELECT DISTINCT period_key FROM duban.v_progress ORDER BY 1",
    "SELECT count(*) FROM duban.fact_target_progress",
    f"SELECT count(*) FROM quack_query('quack:127.0.0.1:{port}', 'SELECT * FROM dim_report')",
]
queries, failures, rounds = 0, [], 0
while True:
    last = stop.exists()
    results = []
    for sql in every + (final if last else []):
        queries += 1
        try:
            results.append([list(row) for row in con.execute(sql).fetchall()])
        except Exception as error:
            failures.append(str(error).splitlines()[0])
            results.append(None)
    rounds += 1
    print(json.dumps({"round": rounds}), flush=True)
    if last:
        print(json.dumps({"queries": queries, "failures": failures, "results": results}, default=str), flush=True)
        break
"""


class AttachedClient:
    """A DuckDB process that ATTACHes the server once and queries it in a loop until told to stop; then it runs
    the loop's queries and `final` once more and reports every failure and the last round's rows."""

    def __init__(self, port: int, folder: Path, *final: str):
        self.stop_file = folder / "stop-client"
        self.proc = subprocess.Popen([sys.executable, "-c", LOOP, str(port), str(self.stop_file), *final],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        self.rounds = 0

    def wait_rounds(self, more: int) -> None:
        """Wait until the client finished `more` further rounds of queries."""
        target = self.rounds + more
        while self.rounds < target:
            line = self.proc.stdout.readline()
            assert line, f"the client process ended: {self.proc.stderr.read()}"
            self.rounds = json.loads(line)["round"]

    def finish(self) -> dict:
        self.stop_file.touch()
        try:
            lines = self.proc.communicate(timeout=120)[0].splitlines()
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        return json.loads(lines[-1])


def publish_edited(warehouse: Path, *statements: str) -> None:
    """Publish a copy of the warehouse changed by statements the way `duban build` publishes: one rename."""
    staging = warehouse.with_name(f".{warehouse.name}.publishing-test")
    shutil.copyfile(warehouse, staging)
    with duckdb.connect(str(staging)) as con:
        for sql in statements:
            con.execute(sql)
        con.execute("CHECKPOINT")
    staging.replace(warehouse)


def test_a_client_process_stays_attached_across_three_builds_with_no_failed_query(served, tmp_path: Path) -> None:
    """One attached client process queries in a loop while three builds publish new quarters: nothing fails and
    it sees the last quarter without re-ATTACHing."""
    raw, warehouse, home, port, output = served
    attached = AttachedClient(port, tmp_path, DIGEST.format(table="duban.v_progress"))
    try:
        attached.wait_rounds(1)  # it queried before the first publish
        for quarter, words in ((2, "第二季度"), (3, "第三季度"), (4, "第四季度")):
            write_text(raw / f"test-2021-Q{quarter}.txt", f"测试市人民政府2021年责任目标{words}工作推进情况一览表",
                       sample_records(n=20, start=1))
            assert run_build(raw, warehouse, home).returncode == 0
            line = output.wait_for("published warehouse changed")
            assert line.endswith("clients see it on their next query"), line  # refreshed in place, no restart
            attached.wait_rounds(2)  # a round that began after the refresh
        report = attached.finish()
    finally:
        attached.proc.kill()
    assert report["failures"] == [] and report["queries"] > 12, report
    periods, facts, reports, digest = report["results"]
    assert periods == [["2021Q1"], ["2021Q2"], ["2021Q3"], ["2021Q4"]]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert facts == [[54 + 3 * 20]] == [list(con.execute("SELECT count(*) FROM fact_target_progress").fetchone())]
        assert digest == [list(con.execute(DIGEST.format(table="v_progress")).fetchone())]
    assert reports == [[4]]


def test_an_added_column_and_view_reach_attached_clients_with_no_failed_query(served, tmp_path: Path) -> None:
    """The README's add-a-column and add-a-view changes, published while a client stays attached."""
    _, warehouse, _, port, output = served
    uri = f"quack:127.0.0.1:{port}"
    attached = AttachedClient(
        port, tmp_path,
        "FROM quack_clear_cache()",  # the attached client cached the table's columns when it first bound it
        "SELECT count(*), sum(progress_chars) FROM duban.fact_target_progress",
        "SELECT * FROM duban.v_leader_load ORDER BY 1",
        f"FROM quack_query('{uri}', 'SELECT table_name, comment FROM duckdb_tables() ORDER BY 1')",
    )
    try:
        attached.wait_rounds(1)
        publish_edited(
            warehouse,
            "ALTER TABLE fact_target_progress ADD COLUMN progress_chars BIGINT",
            "UPDATE fact_target_progress SET progress_chars = length(progress_text)",
            "CREATE VIEW v_leader_load AS SELECT leader_name, count(*) AS targets FROM v_progress GROUP BY 1",
        )
        line = output.wait_for("published warehouse changed")
        assert line == ("duban serve: published warehouse changed; clients see it on their next query (added: "
                        "v_leader_load, fact_target_progress.progress_chars; an attached client lists new columns "
                        "after FROM quack_clear_cache())")
        attached.wait_rounds(2)
        report = attached.finish()
    finally:
        attached.proc.kill()
    assert report["failures"] == [], report
    with duckdb.connect(str(warehouse), read_only=True) as con:
        chars = con.execute("SELECT count(*), sum(progress_chars) FROM fact_target_progress").fetchall()
        load = con.execute("SELECT * FROM v_leader_load ORDER BY 1").fetchall()
        comments = con.execute(
            """SELECT table_name, comment FROM duckdb_tables() WHERE NOT internal
               UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE NOT internal ORDER BY 1"""
        ).fetchall()
    _, _, _, _, sums, leaders, served_comments = report["results"]
    assert [tuple(r) for r in sums] == chars and chars[0][1] > 0
    assert [tuple(r) for r in leaders] == load and len(load) == 2
    published = dict(comments)
    assert dict(map(tuple, served_comments)) == published and published["v_progress"].startswith("Flat progress")


def test_a_retyped_column_restarts_the_server_and_clients_reattach(served) -> None:
    _, warehouse, _, port, output = served
    con = client(port)
    assert con.execute("SELECT max(source_line) FROM duban.quarantine").fetchone()[0] > 0
    publish_edited(warehouse, "ALTER TABLE quarantine ALTER COLUMN source_line TYPE VARCHAR")
    assert output.wait_for("serving a new snapshot") == (
        "duban serve: a published table or column was removed or changed type; serving a new snapshot: "
        "attached clients get 'Invalid connection id' until they DETACH and ATTACH again")
    with pytest.raises(duckdb.Error, match="Invalid connection id"):
        con.execute("SELECT count(*) FROM duban.quarantine").fetchall()
    con.execute("DETACH duban")
    con.execute(f"ATTACH 'quack:127.0.0.1:{port}' AS duban")
    assert con.execute("SELECT typeof(source_line), count(*) FROM duban.quarantine GROUP BY 1").fetchall() == [
        ("VARCHAR", 4)]


SWAP_CLIENT = """
import sys
from tests.test_serve import client
con = client(int(sys.argv[1]))
for line in sys.stdin:
    try:
        print(con.execute(line).fetchall(), flush=True)
    except Exception as error:
        print(str(error).splitlines()[0], flush=True)
"""


def test_why_a_retyped_column_cannot_be_swapped_under_an_attached_client(tmp_path: Path) -> None:
    """quack 1.5.5 clients keep the column types they bound and fetch columns by position, so retyping a served
    table in place breaks an attached client's whole database until its process restarts, while the added
    column stays hidden until quack_clear_cache(). When this fails, quack learned to rebind: simplify the swap."""
    port = free_port()
    server = duckdb.connect(str(tmp_path / "served.duckdb"), config=OFFLINE)
    server.execute("CREATE TABLE t AS SELECT 1 AS a")
    load_quack(server)
    server.execute("CALL quack_serve(?, token => ?)", [f"quack:127.0.0.1:{port}", TOKEN])
    other = subprocess.Popen([sys.executable, "-c", SWAP_CLIENT, str(port)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=REPO)

    def ask(sql: str) -> str:
        other.stdin.write(sql + "\n")
        other.stdin.flush()
        return other.stdout.readline().strip()

    try:
        assert ask("FROM duban.t") == "[(1,)]"
        server.execute("ALTER TABLE t ADD COLUMN b INTEGER DEFAULT 7")
        assert ask("SELECT b FROM duban.t").startswith("Binder Error")
        assert ask("FROM quack_clear_cache()") == "[]"
        assert ask("SELECT a, b FROM duban.t") == "[(1, 7)]"
        server.execute("BEGIN; DROP TABLE t; CREATE TABLE t AS SELECT 'x' AS a, 7 AS b; COMMIT")
        assert ask("FROM duban.t").startswith("INTERNAL Error: Vector::Reference used on vector of different type")
        assert ask("SELECT 42").startswith("FATAL Error: Failed: database has been invalidated")
    finally:
        other.kill()
        other.wait()
        server.execute("CALL quack_stop(?)", [f"quack:127.0.0.1:{port}"])
        server.close()
