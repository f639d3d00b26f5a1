"""Staged files are flushed to disk once per chunk, never one by one, and a batch's rows before the markers naming them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pipelines.manifest as manifest_module
import pipelines.staging as staging_module
from pipelines.manifest import identify_files
from pipelines.staging import StagingArea, process_staged, stage_files
from tests.conftest import SEED

QUARTERS = ("第一季度", "第二季度", "第三季度", "第四季度")


def _raw_quarters(raw: Path) -> list[str]:
    """The seed as four quarterly reports of 2021."""
    raw.mkdir()
    text = SEED.read_text(encoding="utf-8")
    names = []
    for n, quarter in enumerate(QUARTERS, start=1):
        name = f"heze-2021-Q{n}.txt"
        (raw / name).write_text(text.replace("第一季度", quarter), encoding="utf-8")
        names.append(name)
    return names


def _watch_syncs(monkeypatch, module, root: Path) -> tuple[list[int], list[int]]:
    """Record each file sync, and at each flush of module the number of grids staged under root."""
    synced: list[int] = []
    flushed: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    monkeypatch.setattr(module, "flush_all", lambda: flushed.append(len(list(root.rglob("grid.parquet")))))
    return synced, flushed


def test_a_chunk_of_reports_is_staged_with_one_flush_and_no_sync_per_file(tmp_path: Path, monkeypatch) -> None:
    names = _raw_quarters(tmp_path / "raw")
    root = tmp_path / "staging"
    synced, flushed = _watch_syncs(monkeypatch, staging_module, root)
    wanted = ["2021Q1", "2021Q2", "2021Q3", "2021Q4"]
    out = stage_files([(str(tmp_path / "raw"), name, str(root), wanted) for name in names])
    assert [period for period, *_ in out] == wanted and all(key for _, key, _, _ in out)
    assert synced == [] and flushed == [4]  # one flush, after the four grids were written


def test_a_batchs_rows_are_flushed_before_any_marker_names_them(tmp_path: Path, monkeypatch) -> None:
    names = _raw_quarters(tmp_path / "raw")
    root = tmp_path / "staging"
    out = stage_files([(str(tmp_path / "raw"), name, str(root), ["2021Q1", "2021Q2", "2021Q3", "2021Q4"]) for name in names])
    keys = [key for _, key, _, _ in out]
    seen: list[tuple[int, int]] = []  # (batch files, markers) on disk at each flush

    def flush() -> None:
        seen.append((len(list(root.glob("processed/*/*.parquet"))), len(list(root.glob("reports/*/processed-*.json")))))

    monkeypatch.setattr(staging_module, "flush_all", flush)
    assert process_staged([(str(root), key) for key in keys]) == ["ok"] * 4
    assert seen == [(2, 0), (2, 4)]
    staging = StagingArea(root)
    assert all(staging.has_processed(key) for key in keys)
    shutil.rmtree(root / "processed")
    assert not any(staging.has_processed(key) for key in keys)


def test_the_scan_stages_what_it_reads_with_one_flush(tmp_path: Path, monkeypatch) -> None:
    """`duban build`'s scan (identify_files) stages the reports it reads for the run, flushed the same way."""
    names = _raw_quarters(tmp_path / "raw")
    root = tmp_path / "staging"
    synced, flushed = _watch_syncs(monkeypatch, manifest_module, root)
    states = identify_files([(str(tmp_path / "raw"), name, str(root)) for name in names])
    assert [state.period_key for _, state in states] == ["2021Q1", "2021Q2", "2021Q3", "2021Q4"]
    assert synced == [] and flushed == [4]


def test_an_empty_chunk_reads_and_flushes_nothing(tmp_path: Path, monkeypatch) -> None:
    """The sensor's scan of an unchanged folder hands the reader no file at all."""
    synced, flushed = _watch_syncs(monkeypatch, manifest_module, tmp_path)
    assert identify_files([]) == [] and stage_files([]) == []
    assert synced == [] and flushed == []
