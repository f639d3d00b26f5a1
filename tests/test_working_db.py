"""The working database (warehouse/.work/duban.duckdb) is checked against the last publish before a build writes."""

import shutil
from pathlib import Path

import duckdb

from pipelines.publish import working_path
from tests.conftest import SEED, run_build
from tests.report_writers import sample_records, write_text

RESTORED = "restored it from the published warehouse"


def _first_build(tmp_path: Path) -> tuple[Path, Path, Path]:
    raw, warehouse, home = tmp_path / "raw", tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    first = run_build(raw, warehouse, home)
    assert first.returncode == 0, first.stdout + first.stderr
    assert RESTORED not in first.stdout
    return raw, warehouse, home


def _add_quarter(raw: Path) -> None:
    write_text(raw / "test-2021-Q2.txt", "测试市人民政府2021年责任目标上半年工作推进情况一览表", sample_records(n=30, start=1, seed=2))


def test_a_tampered_working_database_is_not_published(tmp_path: Path) -> None:
    raw, warehouse, home = _first_build(tmp_path)
    with duckdb.connect(str(working_path(warehouse))) as con:
        con.execute("UPDATE fact_target_progress SET progress_text = 'tampered' WHERE source_line = 31")
        con.execute("DELETE FROM quarantine")
    _add_quarter(raw)

    second = run_build(raw, warehouse, home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert RESTORED in second.stdout
    assert "it was changed after the last publish" in second.stdout
    assert second.query("SELECT count(*) FROM fact_target_progress WHERE progress_text = 'tampered'") == [(0,)]
    assert second.query("SELECT count(*) FROM quarantine WHERE source_file = 'heze-2021-Q1.txt'") == [(4,)]
    assert second.query("SELECT period_key, count(*) FROM fact_target_progress GROUP BY 1 ORDER BY 1") == [
        ("2021Q1", 54), ("2021Q2", 30)
    ]

    third = run_build(raw, warehouse, home, "--all")  # the working database is what was published: no restore
    assert third.returncode == 0, third.stdout + third.stderr
    assert RESTORED not in third.stdout


def test_a_truncated_working_database_is_restored_by_itself(tmp_path: Path) -> None:
    raw, warehouse, home = _first_build(tmp_path)
    working = working_path(warehouse)
    with working.open("r+b") as f:
        f.truncate(working.stat().st_size // 3)
    published_before = warehouse.read_bytes()
    _add_quarter(raw)

    second = run_build(raw, warehouse, home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert RESTORED in second.stdout
    assert second.query("SELECT period_key, count(*) FROM fact_target_progress GROUP BY 1 ORDER BY 1") == [
        ("2021Q1", 54), ("2021Q2", 30)
    ]
    assert warehouse.read_bytes() != published_before  # the new quarter was published


def test_a_working_database_with_an_unpublished_write_ahead_log_is_restored(tmp_path: Path) -> None:
    raw, warehouse, home = _first_build(tmp_path)
    working = working_path(warehouse)
    working.with_name(working.name + ".wal").write_bytes(b"not a real log")
    _add_quarter(raw)

    second = run_build(raw, warehouse, home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "it has writes that no build published" in second.stdout
    assert second.query("SELECT count(*) FROM fact_target_progress") == [(84,)]


def test_a_table_added_to_the_published_file_is_kept_aside_not_lost(tmp_path: Path) -> None:
    """An analyst opened the published file read-write and added a table: the next publish keeps a copy of it."""
    raw, warehouse, home = _first_build(tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE TABLE my_notes AS SELECT 1 AS note")
        con.execute("DELETE FROM fact_target_progress WHERE source_line = 31")
    _add_quarter(raw)

    second = run_build(raw, warehouse, home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "the published warehouse was changed outside duban since the last build" in second.stdout
    assert "adds my_notes" in second.stdout and "fact_target_progress 54 → 53 rows" in second.stdout
    (kept,) = warehouse.parent.glob("duban.*.modified.duckdb")
    assert kept.name in second.stdout
    with duckdb.connect(str(kept), read_only=True) as con:
        assert con.execute("SELECT note FROM my_notes").fetchall() == [(1,)]
    # duban's own data is published: every seed fact is back, the new quarter is there, the analyst's table is not
    assert second.query("SELECT count(*) FROM fact_target_progress") == [(84,)]
    assert second.query("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'my_notes'") == [(0,)]
    assert RESTORED not in second.stdout


def test_a_change_outside_duban_is_found_by_a_build_with_nothing_new(tmp_path: Path) -> None:
    """Nothing to load, but the published file was changed: keep the change aside and put duban's data back."""
    raw, warehouse, home = _first_build(tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE TABLE evil (x INT)")
        con.execute("DELETE FROM dim_leader")
    again = run_build(raw, warehouse, home)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "the published warehouse was changed outside duban since the last build" in again.stdout
    assert "republished duban's own data" in again.stdout
    (kept,) = warehouse.parent.glob("duban.*.modified.duckdb")
    with duckdb.connect(str(kept), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM dim_leader").fetchone() == (0,)
    assert again.query("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'evil'") == [(0,)]
    assert again.query("SELECT count(*) FROM dim_leader") == again.query("SELECT count(DISTINCT leader_key) FROM fact_target_progress")
    assert again.query("SELECT count(*) FROM dim_leader")[0][0] > 0
    third = run_build(raw, warehouse, home)  # and the next build finds it as published
    assert third.returncode == 0 and "changed outside duban" not in third.stdout, third.stdout


def test_both_files_changed_outside_duban_is_refused_with_the_way_out(tmp_path: Path) -> None:
    raw, warehouse, home = _first_build(tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("DELETE FROM quarantine")
    with duckdb.connect(str(working_path(warehouse))) as con:
        con.execute("DELETE FROM quarantine")
    before = warehouse.read_bytes()
    _add_quarter(raw)
    second = run_build(raw, warehouse, home)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "were both changed outside duban since the last build" in second.stderr
    assert "duban build --all --warehouse NEW_FILE" in second.stderr
    assert warehouse.read_bytes() == before
    assert list(warehouse.parent.glob("duban.*.modified.duckdb"))


def test_one_process_reads_the_working_database_once_unless_it_changes(tmp_path: Path, monkeypatch) -> None:
    """A build checks the working database twice (before Dagster starts and when it writes): the second check
    reuses the first's sha256 only while the file is untouched; a byte changed in between is still found."""
    from pipelines import working as w

    _, warehouse, _ = _first_build(tmp_path)
    working = working_path(warehouse)
    reads = []
    real = w.file_sha256
    monkeypatch.setattr(w, "file_sha256", lambda path: reads.append(path) or real(path))
    monkeypatch.setattr(w, "_hashed", {})

    assert w.verify_working(warehouse, working) is None
    assert w.verify_working(warehouse, working) is None
    assert reads == [working]  # read once for two checks

    size = working.stat().st_size
    with working.open("r+b") as f:  # same size, same place: only the bytes and the change time differ
        f.seek(size - 1)
        last = f.read(1)
        f.seek(size - 1)
        f.write(bytes([last[0] ^ 0xFF]))
    message = w.verify_working(warehouse, working)
    assert message is not None and "it was changed after the last publish" in message
    assert len(reads) == 2
    assert working.read_bytes() == warehouse.read_bytes()  # restored from the published file
