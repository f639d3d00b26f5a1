"""The staging area is a cache: a report's files are never synced one by one, and a file a power cut left empty
or cut short counts as never staged (the work is done again), never as an error or as rows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.manifest import identify_files
from pipelines.staging import StagingArea, process_staged, stage_files
from tests.conftest import SEED

QUARTERS = ("第一季度", "第二季度", "第三季度", "第四季度")
WANTED = ["2021Q1", "2021Q2", "2021Q3", "2021Q4"]


def _raw_quarters(raw: Path) -> list[str]:
    """The seed as four quarterly reports of 2021."""
    raw.mkdir(parents=True)
    text = SEED.read_text(encoding="utf-8")
    names = []
    for n, quarter in enumerate(QUARTERS, start=1):
        name = f"heze-2021-Q{n}.txt"
        (raw / name).write_text(text.replace("第一季度", quarter), encoding="utf-8")
        names.append(name)
    return names


def _no_syncs(monkeypatch) -> list[str]:
    """Record every file sync and every whole-system sync."""
    syncs: list[str] = []
    monkeypatch.setattr(os, "fsync", lambda fd: syncs.append("fsync"))
    monkeypatch.setattr(os, "sync", lambda: syncs.append("sync"))
    return syncs


def _staged_and_processed(tmp_path: Path) -> tuple[Path, list[str]]:
    names = _raw_quarters(tmp_path / "raw")
    root = tmp_path / "staging"
    out = stage_files([(str(tmp_path / "raw"), name, str(root), WANTED) for name in names])
    keys = [key for _, key, _, _ in out]
    assert process_staged([(str(root), key) for key in keys]) == ["ok"] * 4
    return root, keys


def test_only_a_batchs_two_files_are_synced_never_a_reports(tmp_path: Path, monkeypatch) -> None:
    syncs = _no_syncs(monkeypatch)
    names = _raw_quarters(tmp_path / "raw")
    states = identify_files([(str(tmp_path / "raw"), name, str(tmp_path / "scan")) for name in names])
    assert [state.period_key for _, state in states] == WANTED
    assert syncs == []  # the scan stages four grids and their descriptions unsynced
    root, keys = _staged_and_processed(tmp_path / "run")
    assert syncs == ["fsync", "fsync"]  # four reports processed as one batch: its accepted and quarantined rows
    assert all(StagingArea(root).has_processed(key) for key in keys)


@pytest.mark.parametrize("damage", ["empty", "cut short"])
def test_a_batch_file_left_empty_or_short_makes_its_reports_unprocessed(tmp_path: Path, damage: str) -> None:
    root, keys = _staged_and_processed(tmp_path)
    [accepted] = root.glob("processed/*/*.accepted.parquet")
    data = accepted.read_bytes()
    accepted.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])
    staging = StagingArea(root)
    assert not any(staging.has_processed(key) for key in keys)
    assert process_staged([(str(root), key) for key in keys]) == ["ok"] * 4  # processed again, readable again
    assert all(StagingArea(root).has_processed(key) for key in keys)
    assert [r.accepted.height for r in StagingArea(root).read_processed(keys)] == [54] * 4


def test_a_grid_or_its_description_left_damaged_counts_as_never_staged(tmp_path: Path) -> None:
    names = _raw_quarters(tmp_path / "raw")
    root = tmp_path / "staging"
    out = stage_files([(str(tmp_path / "raw"), name, str(root), WANTED) for name in names])
    staging = StagingArea(root)
    first, second = out[0][1], out[1][1]
    (root / "reports" / f"{first}.grid.parquet").write_bytes(b"")
    (root / "reports" / f"{second}.raw.json").write_bytes(b'{"path": "heze-2021')
    assert staging.staged_raw(first) is None and staging.staged_raw(second) is None
    again = stage_files([(str(tmp_path / "raw"), name, str(root), WANTED) for name in names])
    assert again == out  # read and staged again, under the same keys
    assert staging.staged_raw(first) == ("2021Q1", staging.read_raw(first).grid.height)


def test_an_empty_chunk_reads_nothing(tmp_path: Path, monkeypatch) -> None:
    """The sensor's scan of an unchanged folder hands the reader no file at all."""
    syncs = _no_syncs(monkeypatch)
    assert identify_files([]) == [] and stage_files([]) == []
    assert syncs == []


def test_a_batch_file_damaged_after_it_was_checked_is_noticed_by_the_same_staging_area(tmp_path: Path) -> None:
    """A long-running process (the sensor, `dagster dev`) keeps one staging area: what it checked is not trusted blindly."""
    root, keys = _staged_and_processed(tmp_path)
    staging = StagingArea(root)
    assert staging.has_processed(keys[0])
    [quarantine] = root.glob("processed/*/*.quarantine.parquet")
    quarantine.write_bytes(b"PAR1")
    assert not staging.has_processed(keys[0])
    quarantine.unlink()
    assert not staging.has_processed(keys[0])
