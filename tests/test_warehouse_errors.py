"""Problems with the warehouse, its folder or DAGSTER_HOME: one line saying what and what to do, a non-zero
exit status, no traceback, and the published warehouse left as it was."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DUBAN, SEED, BuildRun, run_build


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildRun:
    """The seed built once; each test works on its own copy."""
    root = tmp_path_factory.mktemp("errors")
    raw = root / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    run = run_build(raw, root / "w" / "duban.duckdb", root / "home")
    assert run.returncode == 0, run.stdout + run.stderr
    return run


@pytest.fixture
def copy(built: BuildRun, tmp_path: Path) -> BuildRun:
    """A copy of the built raw folder, warehouse folder and Dagster home."""
    for name in ("raw", "w", "home"):
        shutil.copytree(built.raw.parent / name, tmp_path / name)
    return BuildRun(tmp_path / "raw", tmp_path / "w" / "duban.duckdb", tmp_path / "home", 0, "", "")


def duban(*args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DUBAN_RAW", "DUBAN_WAREHOUSE")}
    env["DAGSTER_HOME"] = str(home)
    return subprocess.run([str(DUBAN), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def one_line(stderr: str) -> str:
    """The single line on stderr (asserts there is exactly one, and no traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def build(run: BuildRun, *extra: str, home: Path | None = None) -> subprocess.CompletedProcess:
    return duban("build", "--raw", str(run.raw), "--warehouse", str(run.warehouse), *extra,
                 home=home or run.home, cwd=run.raw.parent)


@pytest.mark.parametrize("damage", ["truncated", "not duckdb"])
def test_a_damaged_published_file(copy: BuildRun, damage: str) -> None:
    data = copy.warehouse.read_bytes()
    copy.warehouse.write_bytes(data[: len(data) // 3] if damage == "truncated" else b"hello, world\n" * 300)
    damaged = copy.warehouse.read_bytes()

    result = build(copy)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith(f"duban build: {copy.warehouse} is not a readable duban warehouse (")
    assert line.endswith("move it aside and run `duban build --all` to rebuild it from the raw reports")
    assert copy.warehouse.read_bytes() == damaged

    query = duban("sql", "--warehouse", str(copy.warehouse), "SELECT 1", home=copy.home, cwd=copy.raw.parent)
    assert query.returncode == 2
    assert one_line(query.stderr).startswith(f"duban sql: {copy.warehouse} is not a readable duban warehouse (")
    assert copy.warehouse.read_bytes() == damaged

    # the way out the message offers
    copy.warehouse.rename(copy.warehouse.with_name("damaged.duckdb"))
    rebuilt = build(copy, "--all")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert copy.query("SELECT count(*) FROM fact_target_progress") == [(54,)]
    assert copy.query("SELECT count(*) FROM quarantine") == [(4,)]


def test_an_empty_published_file_is_one_plain_line_for_every_command(copy: BuildRun) -> None:
    copy.warehouse.write_bytes(b"")
    for command in (["sql", "SELECT 1"], ["status"], ["migrate", "--check"], ["report"]):
        result = duban(command[0], "--warehouse", str(copy.warehouse), *command[1:], home=copy.home, cwd=copy.raw.parent)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert one_line(result.stderr) == (
            f"duban {command[0]}: {copy.warehouse} is not a readable duban warehouse (the file is empty); "
            "move it aside and run `duban build --all` to rebuild it from the raw reports")
    assert copy.warehouse.read_bytes() == b""


def test_a_duckdb_file_that_is_not_a_warehouse(copy: BuildRun) -> None:
    import duckdb

    copy.warehouse.unlink()
    with duckdb.connect(str(copy.warehouse)) as con:
        con.execute("CREATE TABLE other AS SELECT 1 AS x")
    before = copy.warehouse.read_bytes()
    result = build(copy)
    assert result.returncode == 2
    assert "is not a readable duban warehouse (a DuckDB file without duban's tables)" in one_line(result.stderr)
    assert copy.warehouse.read_bytes() == before


def hold_open(database: Path, ready: Path) -> subprocess.Popen:
    """Another program with a read-write DuckDB connection to database, until its stdin closes."""
    holder = subprocess.Popen([
        sys.executable, "-c",
        "import duckdb, sys\n"
        f"con = duckdb.connect({str(database)!r})\n"
        f"open({str(ready)!r}, 'w').write('1')\n"
        "sys.stdin.read()\n",
    ], stdin=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert holder.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    return holder


def test_a_published_file_open_for_writing_in_another_program(copy: BuildRun, tmp_path: Path) -> None:
    holder = hold_open(copy.warehouse, tmp_path / "holder-ready")
    try:
        before = copy.warehouse.read_bytes()
        result = build(copy)
        assert result.returncode == 2
        line = one_line(result.stderr)
        assert line.startswith(f"duban build: {copy.warehouse} is open for writing in another program (PID {holder.pid}, ")
        assert line.endswith(f"close it there (or stop PID {holder.pid}) and try again")
        assert copy.warehouse.read_bytes() == before

        query = duban("sql", "--warehouse", str(copy.warehouse), "SELECT 1", home=copy.home, cwd=copy.raw.parent)
        assert query.returncode == 2
        assert f"is open for writing in another program (PID {holder.pid}, " in one_line(query.stderr)
    finally:
        holder.communicate("", timeout=60)


def test_a_working_database_open_for_writing_in_another_program(copy: BuildRun, tmp_path: Path) -> None:
    settled = build(copy, "--all")  # the copied working database becomes the one this folder published
    assert settled.returncode == 0, settled.stdout + settled.stderr
    working = copy.warehouse.parent / ".work" / copy.warehouse.name
    holder = hold_open(working, tmp_path / "holder-ready")
    try:
        before = copy.warehouse.read_bytes()
        (copy.raw / "test-2021-Q2.txt").write_bytes(SEED.read_bytes().replace("第一季度".encode(), "上半年".encode()))
        result = build(copy)
        assert result.returncode == 2, result.stdout + result.stderr
        assert one_line(result.stderr).startswith(
            f"duban build: {working} is open for writing in another program (PID {holder.pid}, "
        )
        assert copy.warehouse.read_bytes() == before
    finally:
        holder.communicate("", timeout=60)


def test_a_warehouse_folder_that_cannot_be_created(copy: BuildRun, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    run = BuildRun(copy.raw, blocker / "duban.duckdb", copy.home, 0, "", "")
    result = build(run)
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        f"duban build: cannot write in the warehouse folder {blocker} (Not a directory); "
        "make it writable or choose another place with --warehouse FILE"
    )
    assert blocker.read_text() == "not a folder"


def _read_only_bind_works(folder: Path) -> bool:
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount --bind '{folder}' '{folder}' && "
                            f"mount -o remount,bind,ro '{folder}' '{folder}' && ! touch '{folder}/probe'"],
                           capture_output=True) if shutil.which("unshare") else None
    return probe is not None and probe.returncode == 0


def test_a_read_only_warehouse_folder(copy: BuildRun) -> None:
    """A read-only mount stops root too (chmod does not): the folder is bound read-only in a mount namespace."""
    folder = copy.warehouse.parent
    if not _read_only_bind_works(folder):
        pytest.skip("cannot bind a folder read-only here (unshare -rm not permitted)")
    before = copy.warehouse.read_bytes()
    env = {k: v for k, v in os.environ.items() if k not in ("DUBAN_RAW", "DUBAN_WAREHOUSE")}
    env["DAGSTER_HOME"] = str(copy.home)
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c",
         f"mount --bind '{folder}' '{folder}' && mount -o remount,bind,ro '{folder}' '{folder}' && "
         f"exec '{DUBAN}' build --raw '{copy.raw}' --warehouse '{copy.warehouse}' --all"],
        capture_output=True, text=True, env=env, cwd=copy.raw.parent, timeout=300,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert one_line(result.stderr) == (
        f"duban build: cannot write in the warehouse folder {folder} (Read-only file system); "
        "make it writable or choose another place with --warehouse FILE"
    )
    assert copy.warehouse.read_bytes() == before


def test_a_dagster_home_that_is_a_file(copy: BuildRun, tmp_path: Path) -> None:
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    before = copy.warehouse.read_bytes()
    result = build(copy, home=home)
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        f"duban build: DAGSTER_HOME {home} cannot hold Dagster's run history (File exists); "
        "point DAGSTER_HOME at a writable folder, or unset it to use .dagster/ here"
    )
    assert copy.warehouse.read_bytes() == before


def test_sql_with_a_missing_query_file(copy: BuildRun, tmp_path: Path) -> None:
    missing = tmp_path / "nope.sql"
    result = duban("sql", "--warehouse", str(copy.warehouse), "--file", str(missing), home=copy.home, cwd=tmp_path)
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        f"duban sql: error: cannot read the query file {missing}: No such file or directory (see `duban sql --help`)"
    )


@pytest.mark.parametrize("value, reason", [("-1", "must be 0 or more, not -1"), ("ten", "must be a whole number, not 'ten'")])
def test_sql_refuses_a_bad_max_rows(copy: BuildRun, tmp_path: Path, value: str, reason: str) -> None:
    result = duban("sql", "--warehouse", str(copy.warehouse), "--max-rows", value, "SELECT 1",
                   home=copy.home, cwd=tmp_path)
    assert result.returncode == 2
    assert one_line(result.stderr) == f"duban sql: error: argument --max-rows: {reason} (see `duban sql --help`)"
    assert result.stdout == ""
