"""Reports reshaped, normalised and validated together as one frame come out as each does alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from pipelines.errors import DubanError
from pipelines.process import FailedReport, ProcessedReport, process_report, process_reports
from pipelines.reports import read_report
from tests.report_writers import sample_records, write_text, write_xlsx

ROOT = Path(__file__).parent.parent
BAD = ROOT / "tests" / "bad_inputs" / "corpus"


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The seed, every readable file of the bad-input corpus, and 1-, 2- and 3-up reports written here."""
    made = tmp_path_factory.mktemp("batch")
    records = sample_records(30)
    write_text(made / "one-up-2021-Q2.txt", "# 测试市人民政府2021年责任目标第二季度工作推进情况一览表", records, per_row=1)
    write_text(made / "three-up-2022-Q1.txt", "# 测试市人民政府2022年责任目标第一季度工作推进情况一览表", records, per_row=3)
    write_xlsx(made / "sheet-2021-Q3.xlsx", "测试市人民政府2021年责任目标第三季度工作推进情况一览表", records)
    read = []
    for root in (ROOT / "raw", BAD, made):
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            try:
                read.append(read_report(path, root, path.read_bytes()))
            except DubanError:
                continue  # refused while reading: never reaches the reshaper
    return read


def _alone(report):
    try:
        return process_report(report)
    except DubanError as error:
        return error.reason


def _same(together: ProcessedReport | FailedReport, alone: ProcessedReport | str) -> None:
    if isinstance(together, FailedReport):
        assert together.error == alone
        return
    assert isinstance(alone, ProcessedReport), alone
    assert_frame_equal(together.accepted, alone.accepted)
    assert_frame_equal(together.quarantine, alone.quarantine)
    assert together.skipped_lines == alone.skipped_lines


def test_a_batch_gives_each_report_what_it_gets_alone(reports):
    together = process_reports(reports)
    assert len(together) == len(reports) >= 15
    # the batch mixes refused reports, reports with quarantined records and clean ones
    assert any(isinstance(r, FailedReport) for r in together)
    assert any(isinstance(r, ProcessedReport) and r.quarantine.height for r in together)
    assert any(isinstance(r, ProcessedReport) and r.accepted.height >= 30 for r in together)
    for report, result in zip(reports, together):
        assert result.source_file == report.source_file if isinstance(result, FailedReport) else result.report is report
        _same(result, _alone(report))


def test_the_order_of_a_batch_does_not_matter(reports):
    forward = process_reports(reports)
    backward = process_reports(list(reversed(reports)))
    for result, alone in zip(forward, reversed(backward)):
        if isinstance(result, FailedReport):
            assert isinstance(alone, FailedReport) and alone.error == result.error
        else:
            _same(result, alone)


def test_a_staged_batch_reads_back_report_by_report(reports, tmp_path):
    """Staged together (two files for the batch, a marker per report), each report reads back as processed;
    a report whose batch file is gone counts as not processed, so a build processes it again."""
    from pipelines.staging import StagingArea

    staging = StagingArea(tmp_path)
    keys = [staging.write_raw(report) for report in reports]
    results = process_reports([staging.read_raw(key) for key in keys])
    staging.write_processed(keys, results)
    assert all(staging.has_processed(key) for key in keys)
    assert len(list((tmp_path / "processed").rglob("*.parquet"))) == 2
    back = staging.read_processed(list(reversed(keys)))
    for result, read in zip(results, reversed(back)):
        if isinstance(result, FailedReport):
            assert isinstance(read, FailedReport) and read.error == result.error
        else:
            assert read.report.source_file == result.report.source_file
            _same(read, result)
    for path in (tmp_path / "processed").rglob("*.accepted.parquet"):
        path.unlink()
    assert not any(staging.has_processed(k) for k, r in zip(keys, results) if isinstance(r, ProcessedReport))
    assert all(staging.has_processed(k) for k, r in zip(keys, results) if isinstance(r, FailedReport))


def test_a_grid_without_any_text_is_refused_alone_in_its_batch(reports):
    """A grid whose cells have no type yet (every row empty) neither breaks the batch nor changes the others."""
    import polars as pl

    from pipelines.reshape import reshape_grid, reshape_grids

    seed = next(r for r in reports if r.source_file == "heze-2021-Q1.txt")
    blank = pl.DataFrame({"line_no": [1, 2], "cells": [[], []]})
    batch = reshape_grids([blank, seed.grid], ["blank-2021-Q1.txt", seed.path])
    assert list(batch.refused) == [0] and "empty" in batch.refused[0].reason
    alone = reshape_grid(seed.grid, seed.path)
    assert batch.report(1).records.height == 54
    assert_frame_equal(batch.report(1).records, alone.records)
    assert_frame_equal(batch.report(1).quarantine, alone.quarantine)


def test_a_report_processed_again_reads_from_its_newest_batch(reports, tmp_path):
    """Rows of a report processed in two batches come from the batch its marker names, whichever file sorts last."""
    from pipelines.staging import StagingArea

    staging = StagingArea(tmp_path)
    done = [r for r in reports if isinstance(process_reports([r])[0], ProcessedReport) and r.grid.height > 10][:3]
    keys = [staging.write_raw(report) for report in done]
    staging.write_processed(keys, process_reports(done))
    for again in range(len(keys)):  # each report once more alone, with fewer accepted rows than the first time
        result = process_reports([done[again]])[0]
        result.accepted = result.accepted.head(1)
        staging.write_processed([keys[again]], [result])
        read = staging.read_processed(keys)
        assert [r.accepted.height for r in read[: again + 1]] == [1] * (again + 1)
        assert all(r.accepted.height > 1 for r in read[again + 1 :])
