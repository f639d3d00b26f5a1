"""The bad-input corpus (tests/bad_inputs/): every broken or odd file ends exactly as expected.toml says.

One real `duban build` runs over a copy of the whole corpus plus the seed report: it must finish,
name every refused or failed file with its reason, load the rest with exact counts and quarantine
rows, and lose nothing. The same outcomes are then checked file by file in-process, where the
exception type and the exact texts are easiest to see.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import tomllib
import zipfile
from pathlib import Path

import pytest

from pipelines.errors import DubanError
from pipelines.process import process_report
from pipelines.reports import read_report
from tests.bad_inputs import make_corpus
from assets.warehouse import STAR_TABLES
from tests.conftest import SEED, BuildRun, run_build
from tests.report_writers import Record, write_csv

HERE = Path(__file__).resolve().parent / "bad_inputs"
CORPUS = HERE / "corpus"
EXPECTED: dict[str, dict] = tomllib.loads((HERE / "expected.toml").read_text(encoding="utf-8"))["files"]
NAMES = sorted(EXPECTED)
LOADED = sorted(n for n, spec in EXPECTED.items() if spec["outcome"] == "loaded")
# expected.toml fact keys → the v_progress expression they are compared with
FACT_COLUMNS = {"progress_chars": "length(progress_text)", "progress_sha256": "sha256(progress_text)"}


def corpus_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def assert_reason(reason: str, spec: dict) -> None:
    if "reason" in spec:
        assert reason == spec["reason"]
    else:
        assert reason.startswith(spec["reason_prefix"]) and reason.endswith(spec["reason_suffix"]), reason
        assert len(reason) > len(spec["reason_prefix"]) + len(spec["reason_suffix"]), reason


def expected_quarantine(spec: dict) -> list[tuple]:
    rows = [
        (q["line"], q.get("target_no_text"), q["reason"], q.get("column"), q.get("check"), q.get("value"))
        for q in spec.get("quarantine", [])
    ]
    return sorted(rows, key=repr)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> BuildRun:
    """One `duban build` over a copy of the corpus and the seed report."""
    root = tmp_path_factory.mktemp("bad_inputs")
    raw = root / "raw"
    shutil.copytree(CORPUS, raw)
    shutil.copy2(SEED, raw / SEED.name)
    return run_build(raw, root / "warehouse" / "duban.duckdb", root / "dagster_home")


# ---------------------------------------------------------------- the corpus itself


def test_every_corpus_file_has_an_expected_outcome() -> None:
    assert corpus_files(CORPUS) == NAMES


def _content(path: Path) -> object:
    """A file's bytes, or for a zip whose members all read, its members (their compression aside)."""
    data = path.read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [(info.filename, info.date_time, archive.read(info)) for info in archive.infolist()]
    except Exception:  # not a zip, or a damaged one
        return data


def test_the_committed_corpus_is_what_make_corpus_writes(tmp_path: Path) -> None:
    make_corpus.make(tmp_path / "corpus")
    assert corpus_files(tmp_path / "corpus") == NAMES
    for name in NAMES:
        if name == "bit-rot-2021-Q1.xlsx":
            continue  # its damaged compressed bytes depend on the zlib build
        assert _content(tmp_path / "corpus" / name) == _content(CORPUS / name), name


# ---------------------------------------------------------------- one real build over everything


def test_the_build_finishes_and_names_every_problem(build: BuildRun) -> None:
    output = build.stdout + build.stderr
    assert "Traceback" not in output
    assert build.returncode == 1, output
    lines = build.stdout.splitlines()
    refused = [n for n in NAMES if EXPECTED[n]["outcome"] == "refused"]
    failed = [n for n in NAMES if EXPECTED[n]["outcome"] == "failed"]
    assert len([line for line in lines if line.startswith("  refused ")]) == len(refused), build.stdout
    assert len([line for line in lines if line.startswith("  failed ")]) == len(failed), build.stdout


def test_the_seed_still_loads(build: BuildRun) -> None:
    assert build.query(
        "SELECT publisher, records_read, accepted, quarantined, status FROM dim_report WHERE source_file = ?",
        [SEED.name],
    ) == [("菏泽市人民政府", 58, 54, 4, "loaded")]
    assert build.query("SELECT count(*) FROM v_progress WHERE source_file = ?", [SEED.name]) == [(54,)]


@pytest.mark.parametrize("name", NAMES)
def test_outcome_in_the_build(build: BuildRun, name: str) -> None:
    spec = EXPECTED[name]
    reports = build.query(
        """SELECT status, error, publisher, period_key, encoding, reader, records_read, accepted, quarantined
           FROM dim_report WHERE source_file = ?""",
        [name],
    )
    if spec["outcome"] == "refused":
        prefix = f"  refused {build.raw.resolve() / name}: "
        printed = [line.removeprefix(prefix) for line in build.stdout.splitlines() if line.startswith(prefix)]
        assert len(printed) == 1, build.stdout
        assert_reason(printed[0], spec)
        assert reports == []
        return
    if spec["outcome"] == "failed":
        assert len(reports) == 1
        status, error = reports[0][:2]
        assert status == "failed"
        assert_reason(error, spec)
        assert f"  failed {name}: {error}" in build.stdout.splitlines()
        return
    assert reports == [
        (
            "loaded", None, spec["publisher"], "2021Q1", spec["encoding"], spec["reader"],
            spec["accepted"] + spec["quarantined"], spec["accepted"], spec["quarantined"],
        )
    ]
    quarantine = build.query(
        """SELECT source_line, target_no_text, reason, column_name, check_name, failure_value
           FROM quarantine WHERE source_file = ?""",
        [name],
    )
    assert sorted(quarantine, key=repr) == expected_quarantine(spec)
    numbers = build.query("SELECT target_no FROM v_progress WHERE source_file = ? ORDER BY 1", [name])
    assert len(numbers) == spec["accepted"]
    if "target_nos" in spec:
        assert [n for (n,) in numbers] == spec["target_nos"]
    for fact in spec.get("facts", []):
        keys = [k for k in fact if k != "target_no"]
        columns = ", ".join(FACT_COLUMNS.get(k, k) for k in keys)
        row = build.query(
            f"SELECT {columns} FROM v_progress WHERE source_file = ? AND target_no = ?", [name, fact["target_no"]]
        )
        assert row == [tuple(fact[k] for k in keys)], fact["target_no"]


def test_nothing_is_lost(build: BuildRun) -> None:
    """Per loaded report: records read = facts + quarantine rows; and no other file left a trace."""
    rows = build.query(
        """SELECT r.source_file, r.records_read, r.accepted, r.quarantined,
                  (SELECT count(*) FROM fact_target_progress f WHERE f.report_key = r.report_key),
                  (SELECT count(*) FROM quarantine q WHERE q.report_key = r.report_key)
           FROM dim_report r WHERE r.status = 'loaded' ORDER BY r.source_file"""
    )
    assert [r[0] for r in rows] == sorted([*LOADED, SEED.name])
    for source_file, read, accepted, quarantined, facts, quarantine_rows in rows:
        assert (read, accepted, quarantined) == (facts + quarantine_rows, facts, quarantine_rows), source_file
    assert build.query("SELECT DISTINCT status FROM dim_report ORDER BY 1") == [("failed",), ("loaded",)]
    assert build.query("SELECT count(*) FROM fact_target_progress") == [(sum(r[4] for r in rows),)]
    assert build.query("SELECT count(*) FROM quarantine") == [(sum(r[5] for r in rows),)]


def test_sql_in_cells_leaves_every_table_in_place(build: BuildRun) -> None:
    tables = {name for (name,) in build.query("SELECT table_name FROM information_schema.tables")}
    assert set(STAR_TABLES) <= tables
    assert "v_progress" in tables
    assert build.query("SELECT count(*) FROM v_progress WHERE publisher = '甲六市人民政府'") == [(2,)]


# ---------------------------------------------------------------- the same outcomes in-process


@pytest.mark.parametrize("name", NAMES)
def test_outcome_in_process(name: str) -> None:
    spec = EXPECTED[name]
    path = CORPUS / name
    if spec["outcome"] == "refused":
        with pytest.raises(DubanError) as refused:
            read_report(path, CORPUS)
        assert type(refused.value).__name__ == spec["error"]
        assert refused.value.path == str(path)
        assert_reason(refused.value.reason, spec)
        return
    report = read_report(path, CORPUS)
    assert report.source_file == name
    assert report.period.key == "2021Q1"
    if spec["outcome"] == "failed":
        with pytest.raises(DubanError) as failed:
            process_report(report)
        assert type(failed.value).__name__ == spec["error"]
        assert_reason(failed.value.reason, spec)
        return
    result = process_report(report)
    assert (report.publisher, report.encoding, report.reader) == (spec["publisher"], spec["encoding"], spec["reader"])
    assert (result.accepted.height, result.quarantine.height) == (spec["accepted"], spec["quarantined"])
    quarantine = result.quarantine.select(
        "source_line", "target_no_text", "reason", "column_name", "check_name", "failure_value"
    ).rows()
    assert sorted(quarantine, key=repr) == expected_quarantine(spec)


def _accepted(name: str) -> dict[int, dict]:
    result = process_report(read_report(CORPUS / name, CORPUS))
    return {row["target_no"]: row for row in result.accepted.iter_rows(named=True)}


def test_gbk_texts_are_exact() -> None:
    data = (CORPUS / "gbk-2021-Q1.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    accepted = _accepted("gbk-2021-Q1.txt")
    assert sorted(accepted) == [int(r.target_no) for r in make_corpus.GBK_RECORDS]
    for record in make_corpus.GBK_RECORDS:
        row = accepted[int(record.target_no)]
        # the text export puts a line break inside a cell as a space
        assert (row["leader_name"], row["target_text"], row["progress_text"], row["departments"]) == (
            record.leader_name, record.target_text, record.progress_text.replace("\n", " "), record.departments
        )


def test_the_huge_cell_is_kept_whole() -> None:
    text = _accepted("huge-cell-2021-Q1.txt")[1]["progress_text"]
    assert text == make_corpus.HUGE_PROGRESS
    assert len(text.encode("utf-8")) == 1_000_002
    (fact,) = [f for f in EXPECTED["huge-cell-2021-Q1.txt"]["facts"] if f["target_no"] == 1]
    assert fact["progress_sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert fact["progress_chars"] == len(text)


def test_the_wide_row_keeps_its_cells_in_quarantine() -> None:
    result = process_report(read_report(CORPUS / "wide-row-2021-Q1.txt", CORPUS))
    (raw,) = result.quarantine["raw_cells"].to_list()
    # the record, then every cell up to the last filled one (position 7 + 8999)
    assert len(raw) == 7 + 9_000
    assert raw[:7] == make_corpus.record("2")
    assert [i for i, cell in enumerate(raw) if cell] == [*range(7), *range(7 + 999, 7 + 9_000, 1000)]


def test_late_quotes_in_an_excel_csv_are_read_as_excel_wrote_them() -> None:
    accepted = _accepted("late-quotes-2021-Q1.csv")
    assert {no: row["progress_text"] for no, row in accepted.items()} == {
        int(r.target_no): r.progress_text for r in make_corpus.LATE_QUOTE_RECORDS
    }


def test_a_csv_cell_longer_than_the_csv_module_default_limit(tmp_path: Path) -> None:
    """Python's csv refuses cells over 131,072 characters unless told otherwise."""
    long_text = "推进" * 100_000
    path = write_csv(
        tmp_path / "long-2021-Q1.csv",
        make_corpus.title("测试市人民政府"),
        [Record("1", "张三", "目标", "年底", long_text, "是", ["市发展改革委"])],
    )
    assert len(long_text) > 131_072
    result = process_report(read_report(path, tmp_path))
    assert result.accepted["progress_text"].to_list() == [long_text]


def test_formula_cells_of_the_workbook_are_formulas() -> None:
    """The premise of case 8b: the workbook really holds formulas, not strings starting with "="."""
    import openpyxl

    sheet = openpyxl.load_workbook(CORPUS / "formulas-2021-Q1.xlsx").worksheets[0]
    types = {cell.value: cell.data_type for row in sheet.iter_rows(min_row=3, min_col=3, max_col=3) for cell in row}
    assert types == {'=HYPERLINK("http://x","y")': "f", "=1+1": "f", "+SUM(A1)": "s", "@cmd": "s"}


def test_the_records_after_a_stray_quote_are_not_swallowed() -> None:
    """Read without strict quoting, the stray quote of case 14a made records 3 and 4 part of record 2's progress."""
    text = (CORPUS / "stray-quote-2021-Q1.csv").read_text(encoding="utf-8")
    lenient = list(csv.reader(io.StringIO(text, newline="")))
    assert len(lenient) == 4 and "\n4,张三" in lenient[-1][4].replace("\r\n", "\n")
    with pytest.raises(DubanError, match="the CSV row starting on line 4 has a stray quote mark"):
        read_report(CORPUS / "stray-quote-2021-Q1.csv", CORPUS)
