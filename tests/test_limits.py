"""Files that would expand beyond pipelines/limits.py are refused by those checks, before they are parsed."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from pipelines.errors import TooLargeError
from pipelines.reports import read_report
from tests.bad_inputs.make_corpus import title
from tests.report_writers import sample_records, write_xls, write_xlsx

CELL = b'<c r="A1" t="inlineStr"><is><t>x</t></is></c>'


def zip_bomb(path: Path, member: str, megabytes: int, marker: str) -> Path:
    """A small zip whose one big member (repeated cells) unzips to about `megabytes` MB, written by streaming."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(marker, "<root/>")
        with archive.open(member, "w") as out:
            out.write(b'<worksheet><sheetData><row r="1">')
            block = CELL * 20_000
            for _ in range(megabytes * (1 << 20) // len(block)):
                out.write(block)
            out.write(b"</row></sheetData></worksheet>")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(TooLargeError) as refused:
        read_report(path, path.parent)
    return refused.value.reason


def test_an_xlsx_zip_bomb_is_refused_by_its_declared_size(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "bomb-2021-Q1.xlsx", "xl/worksheets/sheet1.xml", 157, "xl/workbook.xml")
    assert bomb.stat().st_size < 1 << 20
    assert refusal(bomb) == (
        "the file unzips to 156 MB, more than the 50 MB duban reads (DUBAN_MAX_EXPANDED_MB); "
        "it may be a zip bomb — check the file, or raise the limit"
    )


def test_the_ratio_limit_applies_when_the_size_limit_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_MAX_EXPANDED_MB", "1000")
    bomb = zip_bomb(tmp_path / "bomb-2021-Q1.xlsx", "xl/worksheets/sheet1.xml", 20, "xl/workbook.xml")
    reason = refusal(bomb)
    assert reason.startswith("the member xl/worksheets/sheet1.xml unzips to ")
    assert reason.endswith(" times its zipped size, more than 200 (DUBAN_MAX_ZIP_RATIO); it may be a zip bomb — "
                           "check the file, or raise the limit")


def test_the_cell_limit_counts_before_openpyxl_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_MAX_EXPANDED_MB", "1000")
    monkeypatch.setenv("DUBAN_MAX_ZIP_RATIO", "100000")
    monkeypatch.setenv("DUBAN_MAX_CELLS", "50000")
    bomb = zip_bomb(tmp_path / "bomb-2021-Q1.xlsx", "xl/worksheets/sheet1.xml", 5, "xl/workbook.xml")
    cells = 5 * (1 << 20) // (len(CELL) * 20_000) * 20_000
    assert refusal(bomb) == (
        f"the workbook has {cells} cells, more than the 50000 duban reads (DUBAN_MAX_CELLS); "
        "check the file, or raise the limit"
    )


def test_a_docx_zip_bomb_is_refused(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "bomb-2021-Q1.docx", "word/document.xml", 61, "word/styles.xml")
    assert refusal(bomb).startswith("the file unzips to 61 MB, more than the 50 MB duban reads")


def test_the_cell_limit_applies_to_xls_and_xlsx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = sample_records(n=4, start=1, seed=3)
    xls = write_xls(tmp_path / "small-2021-Q1.xls", title("测试市人民政府"), records)
    xlsx = write_xlsx(tmp_path / "small-2021-Q1.xlsx", title("测试市人民政府"), records)
    xls, xlsx = (getattr(w, "path", w) for w in (xls, xlsx))
    assert read_report(xls, tmp_path).grid.height > 4  # reads within the default limits
    monkeypatch.setenv("DUBAN_MAX_CELLS", "20")
    assert refusal(xls).startswith("the workbook has ")
    assert refusal(xlsx).startswith("the workbook has ")


def test_a_file_the_scan_read_is_not_parsed_again_by_the_run(raw_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """duban build's scan stages each report it parses; the run's read takes the staged grid."""
    from pipelines import reports
    from pipelines.manifest import scan_raw
    from pipelines.staging import stage_files

    staging = raw_dir.parent / "staging"
    states, _ = scan_raw(raw_dir, {}, staging)
    (name,) = states
    height = reports.read_report(raw_dir / name, raw_dir).grid.height
    monkeypatch.setattr(reports, "choose_reader", lambda *_: pytest.fail("the file was parsed a second time"))
    [(period, key, lines, error)] = stage_files([(str(raw_dir), name, str(staging), ["2021Q1"])])
    assert (period, error, lines) == ("2021Q1", None, height)
    assert key is not None and key.startswith(states[name].sha256[:32])
