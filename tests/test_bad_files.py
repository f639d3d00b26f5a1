"""Files that fail because of the file system, not their content: each fails alone, named, and the rest loads.

Real `duban build` processes over a raw folder holding the seed report and one kind of trouble: a
name that is not UTF-8, entries that cannot be read, junk that shared folders collect, a damaged raw
manifest, and files deleted or rewritten between the scan and the read. CI runs as root, for whom
`chmod 000` changes nothing, so "cannot be read" is made with a broken symbolic link and a named pipe
(real OSError and non-regular-file cases, out of process), and a PermissionError injected in-process;
chmod 000 is tried too where the tests do not run as root.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from pipelines.atomic import write_bytes_atomic
from pipelines.manifest import load_states, scan_raw
from pipelines.publish import work_dir
from tests.conftest import DUBAN, SEED, BuildRun, run_build
from tests.bad_inputs.make_corpus import record, text_report

UNREADABLE = "the file cannot be read ({}); check that it exists and that duban may read it"


def build(raw: Path, *extra: str, env: dict | None = None) -> BuildRun:
    run = run_build(raw, raw.parent / "warehouse" / "duban.duckdb", raw.parent / "dagster_home", *extra, env=env)
    assert "Traceback" not in run.stdout + run.stderr, run.stdout + run.stderr
    return run


def seed_loaded(run: BuildRun) -> bool:
    return run.query("SELECT status, accepted FROM dim_report WHERE source_file = ?", [SEED.name]) == [("loaded", 54)]


def other_report(publisher: str) -> bytes:
    return text_report(publisher, [record("1"), record("2")])


def refused_lines(run: BuildRun) -> list[str]:
    return [line for line in run.stdout.splitlines() if line.startswith("  refused ")]


def test_a_file_name_that_is_not_utf8_fails_alone(raw_dir: Path) -> None:
    with open(os.fsencode(raw_dir) + b"/bad-\xff-2021-Q1.txt", "wb") as handle:
        handle.write(other_report("丁一市人民政府"))
    run = build(raw_dir)
    assert run.returncode == 1, run.stdout
    assert refused_lines(run) == [
        f"  refused {raw_dir}/bad-\\xff-2021-Q1.txt: the file name is not valid UTF-8; rename it"
    ]
    assert seed_loaded(run)
    # the manifest holds the escaped name, so the next build reads it back and says the same
    again = build(raw_dir)
    assert (again.returncode, refused_lines(again)) == (1, refused_lines(run)), again.stdout


def test_file_names_with_line_breaks_or_direction_overrides_are_printed_escaped(raw_dir: Path) -> None:
    (raw_dir / "two\nlines-2021-Q2.txt").write_bytes(other_report("丁一市人民政府"))
    (raw_dir / "report\u202etxt.exe-2021-Q3.txt").write_bytes(b"\xff\xfe not a report at all")
    run = build(raw_dir)
    summary = run.stdout.splitlines()
    assert any("two\\nlines-2021-Q2.txt" in line and "loaded" in line for line in summary), run.stdout
    assert not any(line.startswith("lines-2021-Q2.txt") for line in summary)  # the name did not break the table
    assert "\u202e" not in run.stdout + run.stderr  # no direction override reaches the terminal
    assert any("report\\u202etxt.exe-2021-Q3.txt" in line for line in summary), run.stdout
    # the warehouse keeps the real names: only what is printed is escaped
    assert run.query("SELECT count(*) FROM dim_report WHERE source_file = ?", ["two\nlines-2021-Q2.txt"]) == [(1,)]
    assert seed_loaded(run)


def test_entries_that_cannot_be_read_fail_alone(raw_dir: Path) -> None:
    (raw_dir / "gone-2021-Q1.txt").symlink_to(raw_dir / "nowhere.txt")
    os.mkfifo(raw_dir / "pipe-2021-Q1.txt")  # reading it would block: it must be refused unopened
    run = build(raw_dir)
    assert run.returncode == 1, run.stdout
    assert refused_lines(run) == [
        f"  refused {raw_dir}/gone-2021-Q1.txt: " + UNREADABLE.format("No such file or directory"),
        f"  refused {raw_dir}/pipe-2021-Q1.txt: the entry is not a regular file (a pipe, socket or device); "
        "remove it from the raw directory",
    ]
    assert seed_loaded(run)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_a_file_without_read_permission_fails_alone(raw_dir: Path) -> None:
    locked = raw_dir / "locked-2021-Q1.txt"
    locked.write_bytes(other_report("丁二市人民政府"))
    locked.chmod(0)
    run = build(raw_dir)
    assert run.returncode == 1
    assert refused_lines(run) == [f"  refused {locked}: " + UNREADABLE.format("Permission denied")]
    assert seed_loaded(run)


def test_permission_denied_in_the_scan_names_the_file(raw_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process: a PermissionError on reading one file gives that file a refusal and the others their periods."""
    locked = raw_dir / "locked-2021-Q1.txt"
    locked.write_bytes(other_report("丁二市人民政府"))
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == locked.name:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    states, _ = scan_raw(raw_dir, {})
    assert states[locked.name].error == UNREADABLE.format("Permission denied")
    assert states[SEED.name].period_key == "2021Q1"


JUNK = ["~$heze-2021-Q1.xlsx", "Thumbs.db", "desktop.ini", ".DS_Store", "heze-2021-Q1.txt.bak", "heze-2021-Q1.txt~",
        ".#heze-2021-Q1.txt", "sub/Desktop.ini"]


def test_junk_that_shared_folders_collect_is_skipped(raw_dir: Path) -> None:
    for name in JUNK:
        (raw_dir / name).parent.mkdir(exist_ok=True)
        (raw_dir / name).write_bytes(b"\x00junk")
    run = build(raw_dir)
    assert run.returncode == 0, run.stdout
    skipped = sorted(line for line in run.stdout.splitlines() if line.startswith("  skipped "))
    assert skipped == sorted(
        f"  skipped {raw_dir / name}: not a report (a lock, thumbnail, backup or system file)" for name in JUNK
    )
    assert refused_lines(run) == []
    assert seed_loaded(run)
    (raw_dir / "notes-2021-Q1.pdf").write_bytes(b"%PDF-1.4")  # other unknown files still fail, alone
    again = build(raw_dir)
    assert again.returncode == 1
    assert refused_lines(again) == [
        f"  refused {raw_dir}/notes-2021-Q1.pdf: duban does not read '.pdf' files; it reads "
        ".txt .tsv .csv .xlsx .xls .docx .htm .html"
    ]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_raw_manifest_counts_as_absent(raw_dir: Path, damage: str) -> None:
    first = build(raw_dir)
    assert first.returncode == 0, first.stdout
    manifest = work_dir(first.warehouse) / "raw-manifest"
    data = manifest.read_bytes()
    manifest.write_bytes(b"\xff\x00not a manifest" if damage == "garbage" else data[: len(data) // 2])
    run = build(raw_dir)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"duban: the raw manifest {manifest} is unreadable or damaged (" in run.stdout
    assert "duban: 1 report(s) already in the warehouse and unchanged" in run.stdout
    assert load_states(manifest)[1] is None  # written whole again
    manifest.write_bytes(b"\xff\x00not a manifest")
    (raw_dir / SEED.name).unlink()  # an empty folder: its state equals an absent manifest's, and is written all the same
    build(raw_dir)
    assert load_states(manifest)[1] is None


def test_a_failed_state_write_leaves_the_previous_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk mid-write: the old content stays, no temporary file is left behind."""
    target = tmp_path / "raw-manifest"
    target.write_bytes(b"old")
    real_write = Path.write_bytes

    def full_disk(self: Path, data: bytes) -> int:
        real_write(self, data[:1])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError):
        write_bytes_atomic(target, b"new content")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["raw-manifest"]


def test_state_files_use_a_temporary_name_per_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Concurrent builds must not share a fixed `.tmp` name (each would replace the other's half-written file)."""
    from pipelines import staging

    used: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (used.append(Path(src).name), real_replace(src, dst)))
    staging._write_json(tmp_path / "a.json", [1])
    staging._write_json(tmp_path / "a.json", [2])
    assert len(set(used)) == 2 and all(str(os.getpid()) in name for name in used), used


def test_files_deleted_or_moved_between_scan_and_read_are_named(raw_dir: Path) -> None:
    """The build is held after its scan; one file is deleted and one rewritten for another quarter of the run."""
    deleted, moved = raw_dir / "deleted-2021-Q1.txt", raw_dir / "moved-2021-Q1.txt"
    deleted.write_bytes(other_report("丁三市人民政府"))
    moved.write_bytes(other_report("丁四市人民政府"))
    half_year = other_report("丁五市人民政府").replace("第一季度".encode(), "上半年".encode())
    (raw_dir / "other-2021-Q2.txt").write_bytes(half_year)  # the run builds 2021Q1 and 2021Q2
    pause_dir = raw_dir.parent / "pause"
    pause_dir.mkdir()
    home = raw_dir.parent / "dagster_home"
    warehouse = raw_dir.parent / "warehouse" / "duban.duckdb"
    env = {**os.environ, "DAGSTER_HOME": str(home), "DUBAN_PAUSE_AT": "scanned", "DUBAN_PAUSE_DIR": str(pause_dir)}
    proc = subprocess.Popen(
        [str(DUBAN), "build", "--raw", str(raw_dir), "--warehouse", str(warehouse)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=raw_dir.parent,
    )
    try:
        deadline = time.monotonic() + 240
        while not (pause_dir / "scanned.reached").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the build never reached its read"
            time.sleep(0.2)
        deleted.unlink()
        moved.write_bytes(other_report("丁四市人民政府").replace("第一季度".encode(), "上半年".encode()))
        (pause_dir / "scanned.release").write_text("")
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert "Traceback" not in stdout + stderr, stdout + stderr
    assert proc.returncode == 1, stdout
    lines = stdout.splitlines()
    assert "  failed deleted-2021-Q1.txt: the file disappeared between scan and read; run duban build again" in lines
    assert (
        "  failed moved-2021-Q1.txt: the file changed period between scan and read (it now reports 2021Q2); "
        "run duban build again"
    ) in lines
    run = BuildRun(raw_dir, warehouse, home, proc.returncode, stdout, stderr)
    assert seed_loaded(run)
    assert run.query("SELECT source_file, period_key FROM dim_report ORDER BY 1") == [
        (SEED.name, "2021Q1"), ("other-2021-Q2.txt", "2021Q2")
    ]


def test_the_sensor_cursor_encodes_a_name_that_is_not_utf8(raw_dir: Path) -> None:
    """The state with such a file encodes (the sensor stores it as its cursor on every tick) and reads back."""
    from pipelines.manifest import decode_states, encode_states

    with open(os.fsencode(raw_dir) + b"/bad-\xff-2021-Q1.txt", "wb") as handle:
        handle.write(other_report("丁一市人民政府"))
    states, changes = scan_raw(raw_dir, {})
    assert states["bad-\\xff-2021-Q1.txt"].error == "the file name is not valid UTF-8; rename it"
    assert "bad-\\xff-2021-Q1.txt" in changes.added
    assert decode_states(encode_states(states)) == states


def test_a_damaged_processed_marker_counts_as_absent(tmp_path: Path) -> None:
    from pipelines.staging import StagingArea

    staging = StagingArea(tmp_path)
    marker = staging._processed_marker("k")
    marker.parent.mkdir(parents=True)
    marker.write_bytes(b'{"failed": fal')
    assert not staging.has_processed("k")


def test_a_huge_line_is_quoted_short_in_the_refusal(raw_dir: Path) -> None:
    """A file of one 5 MB line fails alone, and its refusal quotes the line cut short, not whole."""
    (raw_dir / "菏泽市2021年第二季度.txt").write_text("菏泽市人民政府2021年第二季度责任目标\n" + "x" * 5_000_000 + "\n", encoding="utf-8")
    run = build(raw_dir)
    assert run.returncode == 1 and seed_loaded(run)
    (error,) = run.query("SELECT error FROM dim_report WHERE status = 'failed'")[0] or [None]
    assert error and "the closest row" in error and len(error) < 1000, (error or "")[:300]
    assert len(run.stdout) < 20_000 and len(run.stderr) < 20_000


def test_a_subfolder_that_cannot_be_listed_is_refused_by_name(raw_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process: a folder the scan may not list is a refusal under its name, not a folder passed over in silence."""
    (raw_dir / "2021").mkdir()
    (raw_dir / "2021" / "other-2021-Q2.txt").write_bytes(other_report("丁二市人民政府"))
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "2021":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    states, changes = scan_raw(raw_dir, {})
    assert states["2021"].error == UNREADABLE.format("Permission denied")
    assert states[SEED.name].period_key == "2021Q1"
    assert sorted(changes.added) == ["2021", SEED.name]


def test_reading_a_folder_that_could_not_be_listed_gives_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's reader (Dagster's raw_reports) gets the unlistable folder as a candidate and refuses it as the scan does."""
    from pipelines.errors import UnreadableFile
    from pipelines.raw_files import read_raw_bytes

    folder = tmp_path / "raw" / "2021"
    folder.mkdir(parents=True)
    real_scandir = os.scandir

    def scandir(path):
        if Path(path) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(UnreadableFile) as refused:
        read_raw_bytes(folder, tmp_path / "raw")
    assert refused.value.reason == UNREADABLE.format("Permission denied")


def test_the_listing_skips_hidden_ignored_and_linked_folders_and_orders_files_oldest_first(tmp_path: Path) -> None:
    from pipelines.raw_files import list_raw_dir

    raw = tmp_path / "raw"
    for name, mtime in (("b/late.txt", 300), ("a/early.txt", 100), ("mid.txt", 200), (".hidden/x.txt", 50),
                        ("a/.dotfile", 60), ("README.md", 70), ("a/Thumbs.db", 80), (".DS_Store", 90)):
        path = raw / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")
        os.utime(path, (mtime, mtime))
    (raw / "linked").symlink_to(raw / "a", target_is_directory=True)
    (raw / "dangling.txt").symlink_to(raw / "nowhere.txt")
    files, junk = list_raw_dir(raw)
    assert [p.relative_to(raw).as_posix() for p in files] == ["dangling.txt", "a/early.txt", "mid.txt", "b/late.txt"]
    assert [p.relative_to(raw).as_posix() for p in junk] == [".DS_Store", "a/Thumbs.db"]
