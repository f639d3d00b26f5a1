"""Re-issued, re-dated, reverted and removed reports through real `duban build` processes: the result never
depends on build history (the same as a build from scratch over the final raw folder)."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import duckdb

from tests.conftest import DUBAN, SEED, run_build
from tests.test_incremental_equals_scratch import warehouse_content

EDITED = ("共同体等载体建设", "共同体建设")  # target 53's text, as the re-issue prints it


def _scratch(raw: Path, tmp_path: Path, name: str):
    """A build from scratch over the same raw folder, in its own warehouse and Dagster home."""
    (tmp_path / name).mkdir()
    return run_build(raw, tmp_path / name / "duban.duckdb", tmp_path / name / "home")


def _set_mtime(path: Path, seconds: int) -> None:
    os.utime(path, (seconds, seconds))


def _reissue(raw: Path, name: str, seconds: int, drop_target: str | None = None) -> Path:
    """A copy of the seed with target 53's text edited (and optionally one target's line part dropped)."""
    text = SEED.read_text(encoding="utf-8").replace(*EDITED)
    assert EDITED[1] in text
    path = raw / name
    path.write_text(text, encoding="utf-8")
    _set_mtime(path, seconds)
    return path


def _target_53(run) -> list[tuple]:
    return run.query("SELECT target_text, source_file FROM v_progress WHERE target_no = 53")


def test_reissue_with_an_edited_target_loads_and_stays_loaded(raw_dir: Path, tmp_path: Path) -> None:
    warehouse, home = tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    _set_mtime(raw_dir / SEED.name, 1_700_000_000)
    assert run_build(raw_dir, warehouse, home).returncode == 0
    _reissue(raw_dir, "heze-2021-Q1-reissued.txt", 1_700_000_100)

    second = run_build(raw_dir, warehouse, home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "refused" not in second.stdout
    ((text, source),) = _target_53(second)
    assert EDITED[1] in text and source == "heze-2021-Q1-reissued.txt"
    assert second.query("SELECT source_file, status FROM dim_report ORDER BY source_file") == [
        ("heze-2021-Q1-reissued.txt", "loaded"),
        ("heze-2021-Q1.txt", "superseded"),
    ]
    assert second.query("SELECT count(*) FROM fact_target_progress") == [(54,)]
    # the superseded file's target text is no longer used by any fact: its version is gone
    assert second.query("SELECT count(*) FROM dim_target WHERE target_no = 53") == [(1,)]

    third = run_build(raw_dir, warehouse, home)
    assert third.returncode == 0 and "2 report(s) already in the warehouse and unchanged" in third.stdout
    assert warehouse_content(warehouse) == warehouse_content(_scratch(raw_dir, tmp_path, "scratch").warehouse)


def test_older_reissue_reverted_and_removed_files_end_as_from_scratch(raw_dir: Path, tmp_path: Path) -> None:
    warehouse, home = tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    seed = raw_dir / SEED.name
    _set_mtime(seed, 1_700_000_000)
    assert run_build(raw_dir, warehouse, home).returncode == 0

    # a re-issue whose file is older than the loaded one: the newer file (the seed) stays current
    _reissue(raw_dir, "heze-2021-Q1-older.txt", 1_600_000_000)
    older = run_build(raw_dir, warehouse, home)
    assert older.returncode == 0, older.stdout + older.stderr
    assert _target_53(older)[0][1] == SEED.name
    assert warehouse_content(warehouse) == warehouse_content(_scratch(raw_dir, tmp_path, "s1").warehouse)

    # the older re-issue is touched and becomes the newest: it is current now
    _set_mtime(raw_dir / "heze-2021-Q1-older.txt", 1_800_000_000)
    touched = run_build(raw_dir, warehouse, home)
    assert touched.returncode == 0 and _target_53(touched)[0][1] == "heze-2021-Q1-older.txt"
    assert warehouse_content(warehouse) == warehouse_content(_scratch(raw_dir, tmp_path, "s2").warehouse)

    # the original is copied back as the newest file: it is current again
    shutil.copyfile(SEED, raw_dir / "heze-2021-Q1-original-again.txt")
    _set_mtime(raw_dir / "heze-2021-Q1-original-again.txt", 1_900_000_000)
    reverted = run_build(raw_dir, warehouse, home)
    assert reverted.returncode == 0
    assert _target_53(reverted)[0][1] == "heze-2021-Q1-original-again.txt"
    assert EDITED[0] in _target_53(reverted)[0][0]
    assert warehouse_content(warehouse) == warehouse_content(_scratch(raw_dir, tmp_path, "s3").warehouse)

    # every file removed: the period leaves the warehouse
    for path in list(raw_dir.iterdir()):
        path.unlink()
    emptied = run_build(raw_dir, warehouse, home)
    assert emptied.returncode == 0, emptied.stdout + emptied.stderr
    assert "removed heze-2021-Q1.txt" in emptied.stdout
    assert emptied.query("SELECT count(*) FROM fact_target_progress") == [(0,)]
    assert emptied.query("SELECT count(*) FROM dim_report") == [(0,)]
    assert emptied.query("SELECT count(*) FROM quarantine") == [(0,)]


def test_a_failed_file_keeps_failing_the_build_until_it_is_fixed(raw_dir: Path, tmp_path: Path) -> None:
    warehouse, home = tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    header_only = "\n".join(SEED.read_text(encoding="utf-8").splitlines()[:5])  # title and header, no record
    (raw_dir / "heze-2021-Q2.txt").write_text(header_only.replace("第一季度", "上半年"), encoding="utf-8")
    first = run_build(raw_dir, warehouse, home)
    assert first.returncode == 1 and "failed heze-2021-Q2.txt" in first.stdout
    again = run_build(raw_dir, warehouse, home)
    assert again.returncode == 1, again.stdout
    assert "failed heze-2021-Q2.txt (unchanged since an earlier build)" in again.stdout
    (raw_dir / "heze-2021-Q2.txt").unlink()
    fixed = run_build(raw_dir, warehouse, home)
    assert fixed.returncode == 0, fixed.stdout
    assert fixed.query("SELECT count(*) FROM dim_report WHERE status = 'failed'") == [(0,)]


def test_a_warehouse_built_by_the_first_release_migrates_and_keeps_every_fact(raw_dir: Path, tmp_path: Path) -> None:
    """tests/fixtures/warehouse-schema1-seed.duckdb.gz: the seed built by commit 8d74ea1 (schema 1, with FOREIGN KEYs)."""
    warehouse, home = tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    warehouse.parent.mkdir()
    fixture = Path(__file__).parent / "fixtures" / "warehouse-schema1-seed.duckdb.gz"
    warehouse.write_bytes(gzip.decompress(fixture.read_bytes()))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        before = con.execute("SELECT * FROM v_progress ORDER BY target_no").fetchall()
        assert con.execute("SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY'").fetchone()[0] > 0
    status = subprocess.run([str(DUBAN), "status", "--warehouse", str(warehouse)], capture_output=True, text=True, timeout=120)
    assert status.returncode == 1 and "written by an older duban (schema 1" in status.stderr, status.stderr
    assert "`duban build` migrates it and keeps every fact" in status.stderr and "move it aside" not in status.stderr
    # the fixture's file has the seed's bytes; give it the fixture's recorded modification time
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (modified,) = con.execute("SELECT epoch_us(file_modified_at) FROM dim_report").fetchone()
    os.utime(raw_dir / SEED.name, ns=(modified * 1000, modified * 1000))
    _reissue(raw_dir, "heze-2021-Q1-reissued.txt", modified // 10**6 + 100)

    run = run_build(raw_dir, warehouse, home)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "migrating the warehouse: schema 1 → 2" in run.stdout
    assert "migrating the warehouse: schema 2 → 3" in run.stdout
    assert run.query("SELECT value FROM duban_meta WHERE key = 'schema_version'") == [("3",)]
    # every fact has its status: 是 → on_schedule, 否 → behind, as printed
    assert run.query(
        """SELECT progress_status, status_text, on_schedule, count(*) FROM v_progress GROUP BY ALL ORDER BY ALL"""
    ) == [(s, t, f, n) for s, t, f, n in run.query(
        """SELECT CASE WHEN on_schedule THEN 'on_schedule' ELSE 'behind' END,
                  CASE WHEN on_schedule THEN '是' ELSE '否' END, on_schedule, count(*)
           FROM v_progress GROUP BY ALL ORDER BY ALL"""
    )]
    assert run.query("SELECT count(*) FROM v_progress WHERE progress_status IS NULL OR status_text IS NULL") == [(0,)]
    assert run.query("SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY'") == [(0,)]
    assert _target_53(run)[0][1] == "heze-2021-Q1-reissued.txt"
    after = run.query("SELECT * FROM v_progress ORDER BY target_no")
    assert len(after) == len(before) == 54
    # every fact but the re-issued text of 53 and the file it came from is as the first release loaded it
    unchanged = [row[:5] + row[6:13] for row in before if row[4] != 53]
    assert unchanged == [row[:5] + row[6:13] for row in after if row[4] != 53]
