"""`duban serve` as a real process against token holders who try more than reading, a busy port, weak tokens
and a published file another program holds open for writing."""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from pipelines.serve import extension_file
from tests.conftest import DUBAN
from tests.test_serve import TOKEN, client, free_port


class Server:
    """One `duban serve` process; its stdout and stderr lines are read in threads."""

    def __init__(self, *args: str, env: dict | None = None, cwd: Path | None = None):
        environment = {k: v for k, v in os.environ.items() if k not in ("DUBAN_TOKEN", "DUBAN_WAREHOUSE")}
        self.proc = subprocess.Popen(
            [str(DUBAN), "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**environment, **(env or {})}, cwd=cwd,
        )
        self.out: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.out.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err.append), daemon=True).start()

    @staticmethod
    def _pump(stream, put) -> None:
        for line in stream:
            put(line.rstrip("\n"))

    def wait_serving(self, timeout: float = 90) -> None:
        while True:
            try:
                line = self.out.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"duban serve did not start; stderr: {self.err}") from None
            if "duban serve: serving" in line:
                return

    def exit_status(self, timeout: float = 60) -> int:
        """Its exit status; a server still running after timeout is killed and the test fails."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("duban serve kept running; it should have refused to start") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stderr_lines(self) -> list[str]:
        self.proc.wait(timeout=10)
        threading.Event().wait(0.2)  # let the reader thread take the last lines
        return self.err


def start(warehouse: Path, port: int, *args: str, env: dict | None = None) -> Server:
    return Server("--warehouse", str(warehouse), "--port", str(port), *args, env=env)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def guarded(seed_build, tmp_path_factory):
    """One server on the seed warehouse for every attack; `files` is a folder the attacks aim at."""
    files = tmp_path_factory.mktemp("attacked")
    (files / "secret.csv").write_text("key,value\nsecret,42\n")
    port = free_port()
    server = start(seed_build.warehouse, port, env={"DUBAN_TOKEN": TOKEN})
    try:
        server.wait_serving()
        yield seed_build.warehouse, port, files
    finally:
        server.stop()


def remote(port: int, sql: str) -> list[tuple]:
    """Run sql on the server through quack_query, as a token holder."""
    con = client(port)
    return con.execute(f"FROM quack_query('quack:127.0.0.1:{port}', $duban${sql}$duban$)").fetchall()


def still_serving(port: int) -> None:
    assert client(port).execute("SELECT count(*) FROM duban.quarantine").fetchone() == (4,)


URI = "quack:127.0.0.1:{port}"
ATTACKS = {
    "read_csv": "SELECT * FROM read_csv('{files}/secret.csv')",
    "read_passwd": "SELECT * FROM read_csv('/etc/passwd', sep = ':')",
    "read_text": "SELECT content FROM read_text('{files}/secret.csv')",
    "replacement_scan": "FROM '{files}/secret.csv'",
    "glob": "SELECT * FROM glob('{files}/*')",
    "glob_root": "SELECT * FROM glob('/root/*')",
    "install": "INSTALL httpfs",
    "load": "LOAD '{httpfs}'",
    "set_authentication": "SET GLOBAL quack_authentication_function = 'quack_nop_authorization'",
    "set_in_select": "SELECT * FROM enable_logging()",
    "call_quack_stop": f"CALL quack_stop('{URI}')",
    "select_quack_stop": f"SELECT * FROM quack_stop('{URI}')",
    "quack_stop_in_query": f"SELECT * FROM query('SELECT * FROM quack_stop(''{URI}'')')",
    "quack_serve": "SELECT * FROM quack_serve('quack:127.0.0.1:1', token => 'x')",
    "server_list": "SELECT * FROM quack_server_list()",
    "create_temp": "CREATE TEMP TABLE t AS SELECT 1",
    "delete": "DELETE FROM quarantine",
    "cte_insert": "WITH x AS (SELECT 1) INSERT INTO quarantine SELECT * FROM quarantine",
    "checkpoint": "SELECT * FROM force_checkpoint()",
    "failing_query": "SELECT error('boom')",
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_token_holder_can_only_read_the_snapshot(guarded, attack: str) -> None:
    _, port, files = guarded
    sql = ATTACKS[attack].format(files=files, port=port, httpfs=extension_file("httpfs"))
    with pytest.raises(duckdb.Error):
        remote(port, sql)
    still_serving(port)


def test_token_holder_cannot_write_files(guarded) -> None:
    _, port, files = guarded
    target = files / "written.csv"
    with pytest.raises(duckdb.Error):
        remote(port, f"COPY (SELECT 1) TO '{target}'")
    with pytest.raises(duckdb.Error):
        remote(port, f"SELECT 1; COPY (SELECT 1) TO '{target}'")
    assert not target.exists()
    still_serving(port)


def test_token_holder_cannot_change_the_working_database(guarded) -> None:
    warehouse, port, _ = guarded
    working = warehouse.parent / ".work" / warehouse.name
    assert working.exists()
    before = digest(working)
    with pytest.raises(duckdb.Error):
        remote(port, f"ATTACH '{working}' AS w (READ_WRITE)")
    with pytest.raises(duckdb.Error):
        remote(port, f"ATTACH '{working}' AS w (READ_WRITE); UPDATE w.quarantine SET reason = 'x'")
    assert digest(working) == before
    still_serving(port)


def test_only_the_snapshot_is_attached(guarded) -> None:
    port = guarded[1]
    databases = remote(port, "SELECT database_name FROM duckdb_databases() WHERE NOT internal")
    assert len(databases) == 1
    settings = dict(remote(port, "SELECT name, value FROM duckdb_settings() WHERE name IN "
                                 "('enable_external_access', 'lock_configuration')"))
    assert settings == {"enable_external_access": "false", "lock_configuration": "true"}


def test_a_new_client_still_authenticates_after_the_attacks(guarded) -> None:
    port = guarded[1]
    with pytest.raises(duckdb.Error):
        remote(port, "SET GLOBAL quack_authentication_function = 'quack_nop_authorization'")
    with pytest.raises(duckdb.Error, match="Authentication failed"):
        client(port, token="not-the-token-at-all-0123")
    still_serving(port)


def test_second_server_on_a_busy_port_refuses_to_start(guarded) -> None:
    warehouse, port, _ = guarded
    second = start(warehouse, port, env={"DUBAN_TOKEN": TOKEN})
    assert second.exit_status() == 1
    assert second.stderr_lines() == [
        f"duban serve: port {port} on 127.0.0.1 is not free (Address already in use); another server "
        "(perhaps another `duban serve`) listens there: stop it or pass --port PORT"
    ]
    still_serving(port)


@pytest.fixture
def published_copy(seed_build, tmp_path: Path) -> Path:
    warehouse = tmp_path / "w" / "duban.duckdb"
    warehouse.parent.mkdir()
    shutil.copy2(seed_build.warehouse, warehouse)
    return warehouse


WEAK = "duban serve: the token must be at least 16 characters and not one character repeated; " \
       "generate one with `python3 -c 'import secrets; print(secrets.token_urlsafe(24))'`"


@pytest.mark.parametrize("token", ["a" * 24, "short-token", "  padded-short  "])
def test_weak_tokens_are_refused(published_copy: Path, token: str) -> None:
    server = start(published_copy, free_port(), env={"DUBAN_TOKEN": token})
    assert server.exit_status() == 1
    assert server.stderr_lines() == [WEAK]


@pytest.mark.parametrize("token", [" " * 24, "\t \n"])
def test_a_token_of_spaces_counts_as_none(published_copy: Path, token: str) -> None:
    server = start(published_copy, free_port(), env={"DUBAN_TOKEN": token})
    assert server.exit_status() == 1
    assert server.stderr_lines() == ["duban serve: a token is required: pass --token-file FILE or set DUBAN_TOKEN"]


def test_token_file_is_read_and_stripped(published_copy: Path, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(f"  {TOKEN}\n")
    port = free_port()
    server = start(published_copy, port, "--token-file", str(secret), env={"DUBAN_TOKEN": "ignored-environment-token"})
    try:
        server.wait_serving()
        still_serving(port)
    finally:
        server.stop()
    assert server.proc.returncode == 0
    assert server.stderr_lines() == []


def test_missing_token_file_is_one_line(published_copy: Path, tmp_path: Path) -> None:
    server = start(published_copy, free_port(), "--token-file", str(tmp_path / "none"))
    assert server.exit_status() == 1
    assert server.stderr_lines() == [
        f"duban serve: cannot read the token file {tmp_path / 'none'}: FileNotFoundError; pass a readable --token-file FILE"
    ]


def test_token_on_the_command_line_warns(published_copy: Path) -> None:
    port = free_port()
    server = start(published_copy, port, "--token", TOKEN)
    try:
        server.wait_serving()
        still_serving(port)
    finally:
        server.stop()
    assert server.stderr_lines() == [
        "duban serve: warning: --token is visible to every user of this machine (ps); "
        "use --token-file FILE or DUBAN_TOKEN instead"
    ]


HOLD = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(120)
"""


def test_published_file_held_for_writing_is_named_and_leaves_nothing(published_copy: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(published_copy)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        server = start(published_copy, free_port(), env={"DUBAN_TOKEN": TOKEN})
        assert server.exit_status() == 1
        assert server.stderr_lines() == [
            f"duban serve: {published_copy} is open for writing in process {holder.pid}, so it cannot be read; "
            "close that program (duban build never holds the published file open) and start duban serve again"
        ]
    finally:
        holder.kill()
        holder.wait()
    assert list((published_copy.parent / ".work" / "serve").glob("*")) == []
