"""`duban serve` as a real process: token required, read-only, new data after each publish."""

import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

import duckdb
import pytest

from pipelines.serve import OFFLINE, load_quack
from tests.conftest import DUBAN, SEED, run_build
from tests.report_writers import sample_records, write_text

TOKEN = "test-token-0123456789"
ORDER = "ORDER BY publisher, period_key, target_no"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerOutput:
    """Lines the server prints, read in a thread so the test can wait for one with a timeout."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 90) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            if text in line:
                return line


def client(port: int, token: str | None = TOKEN) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config=OFFLINE)
    load_quack(con)
    if token:
        con.execute(f"CREATE SECRET (TYPE quack, TOKEN '{token}')")
    con.execute(f"ATTACH 'quack:127.0.0.1:{port}' AS duban")
    return con


@pytest.fixture
def served(tmp_path: Path):
    raw, warehouse, home = tmp_path / "raw", tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    assert run_build(raw, warehouse, home).returncode == 0
    port = free_port()
    env = {**os.environ, "DUBAN_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [str(DUBAN), "serve", "--warehouse", str(warehouse), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    output = ServerOutput(proc)
    output.wait_for("duban serve: serving")
    yield raw, warehouse, home, port, output
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    output.wait_for("duban serve: stopped", timeout=10)


def warehouse_rows(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"SELECT * FROM v_progress {ORDER}").fetchall()


def test_client_with_token_sees_the_warehouse(served) -> None:
    _, warehouse, _, port, _ = served
    con = client(port)
    assert con.execute(f"SELECT * FROM duban.v_progress {ORDER}").fetchall() == warehouse_rows(warehouse)
    assert con.execute("SELECT count(*) FROM duban.quarantine").fetchone() == (4,)


def test_no_token_or_a_wrong_one_is_refused(served) -> None:
    port = served[3]
    with pytest.raises(duckdb.Error, match="Could not find a Quack authentication token"):
        client(port, token=None)
    with pytest.raises(duckdb.Error, match="Authentication failed"):
        client(port, token="not-the-token")


def test_clients_cannot_write(served) -> None:
    port = served[3]
    con = client(port)
    with pytest.raises(duckdb.Error, match="Authorization failed"):
        con.execute(f"FROM quack_query('quack:127.0.0.1:{port}', 'DELETE FROM quarantine')").fetchall()
    with pytest.raises(duckdb.Error):
        con.execute("DELETE FROM duban.quarantine")
    with pytest.raises(duckdb.Error, match="Authorization failed"):
        con.execute(f"FROM quack_query('quack:127.0.0.1:{port}', 'CREATE TABLE x (a INT)')").fetchall()
    assert client(port).execute("SELECT count(*) FROM duban.quarantine").fetchone() == (4,)


def test_new_publish_is_served_without_restart(served) -> None:
    raw, warehouse, home, port, output = served
    write_text(raw / "test-2021-Q2.txt", "测试市人民政府2021年责任目标第二季度工作推进情况一览表", sample_records(n=20, start=1))
    assert run_build(raw, warehouse, home).returncode == 0
    output.wait_for("published warehouse changed")
    con = client(port)
    assert con.execute("SELECT period_key, count(*) FROM duban.v_progress GROUP BY 1 ORDER BY 1").fetchall() == [
        ("2021Q1", 54),
        ("2021Q2", 20),
    ]
    assert con.execute(f"SELECT * FROM duban.v_progress {ORDER}").fetchall() == warehouse_rows(warehouse)


def test_serve_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DUBAN_TOKEN"}
    out = subprocess.run([str(DUBAN), "serve", "--warehouse", str(tmp_path / "x.duckdb")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip() == "duban serve: a token is required: pass --token-file FILE or set DUBAN_TOKEN"


def test_the_quack_server_bounds_memory_and_temp_space_for_all_queries(served) -> None:
    port = served[3]
    con = client(port)
    (memory, temp) = con.execute(
        f"FROM quack_query('quack:127.0.0.1:{port}', "
        "'SELECT current_setting(''memory_limit''), current_setting(''max_temp_directory_size'')')"
    ).fetchone()
    assert (memory, temp) == ("2.0 GiB", "1.0 GiB")  # DUBAN_SERVE_MEMORY_MB, DUBAN_SERVE_TEMP_MB defaults
