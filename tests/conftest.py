"""Shared fixtures: the seed report, temporary raw folders and a real `duban build` run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "raw" / "heze-2021-Q1.txt"
DUBAN = Path(sys.executable).with_name("duban")


@dataclass
class BuildRun:
    """One finished `duban build` process and where it wrote."""

    raw: Path
    warehouse: Path
    home: Path
    returncode: int
    stdout: str
    stderr: str

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


# assets/event_log_storage.py sets this in every process that imports it, this one too once a test has; the
# processes tests start get the environment a user's would (the storage module sets it there if it is used)
EVENT_BATCH_SIZE = "DAGSTER_EVENT_BATCH_SIZE"


@pytest.fixture(autouse=True)
def _no_inherited_event_batch_size(monkeypatch) -> None:
    monkeypatch.delenv(EVENT_BATCH_SIZE, raising=False)


def run_build(raw: Path, warehouse: Path, home: Path, *extra: str, env: dict | None = None) -> BuildRun:
    """Run the installed `duban build` command as a separate process."""
    env = {**{k: v for k, v in os.environ.items() if k != EVENT_BATCH_SIZE}, "DAGSTER_HOME": str(home), **(env or {})}
    env.pop("DUBAN_RAW", None)
    env.pop("DUBAN_WAREHOUSE", None)
    proc = subprocess.run(
        [str(DUBAN), "build", "--raw", str(raw), "--warehouse", str(warehouse), *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=home.parent,
        timeout=300,
    )
    return BuildRun(raw, warehouse, home, proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """A temporary raw folder holding a copy of the seed report."""
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    return raw


@pytest.fixture(scope="session")
def seed_build(tmp_path_factory: pytest.TempPathFactory) -> BuildRun:
    """The seed built once by a real `duban build` process into a temporary folder."""
    root = tmp_path_factory.mktemp("seed_build")
    raw = root / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    run = run_build(raw, root / "warehouse" / "duban.duckdb", root / "dagster_home")
    assert run.returncode == 0, run.stdout + run.stderr
    return run


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory):
    """Seed Q1 plus Q2 (text), Q3 (xlsx) and Q4 (GB18030 CSV) of the same targets, and two bad files, built once."""
    from tests.history_fixture import build_history

    return build_history(tmp_path_factory)


@pytest.fixture(scope="session")
def postgresql_installed() -> None:
    """Debian's PostgreSQL server and client, installed with apt-get when missing (CI runs as root)."""
    from pipelines.pg_server import bindir
    from pipelines.serve import ServeError

    try:
        bindir()
        return
    except ServeError:
        pass
    reason = "PostgreSQL is not installed and apt-get cannot install it"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        update = subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, timeout=600)
        install = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "postgresql", "postgresql-client"],
            capture_output=True, text=True, env=env, timeout=900,
        )
        try:
            bindir()
            return
        except ServeError:
            reason += f": {(install.stderr or update.stderr).strip()[-500:]}"
    print(reason)
    pytest.skip(reason)


@dataclass
class LakeServer:
    """A throw-away PostgreSQL server (loopback only) holding DuckLake catalogs, one database per lake."""

    server: object
    root: Path
    made: int = 0

    def new_lake(self) -> tuple[str, Path]:
        """A fresh catalog database: (the --warehouse setting, the --data-path folder)."""
        from pipelines.pg_server import OWNER, bindir

        self.made += 1
        name = f"lake{self.made}"
        subprocess.run(
            [str(bindir() / "createdb"), "-h", str(self.server.folder), "-p", str(self.server.port), "-U", OWNER, name],
            check=True, capture_output=True, timeout=60,
        )
        return f"ducklake:postgres:{self.server.admin_dsn(name)}", self.root / f"{name}-data"


@pytest.fixture(scope="session")
def lake_server(postgresql_installed, tmp_path_factory: pytest.TempPathFactory):
    """PostgreSQL started for the session with initdb in a temporary folder (as the `postgres` user under root), stopped after."""
    import socket

    from pipelines.pg_server import PgServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = tmp_path_factory.mktemp("lake")
    server = PgServer.start(root / "pg", "127.0.0.1", port)
    try:
        yield LakeServer(server, root)
    finally:
        server.stop()
