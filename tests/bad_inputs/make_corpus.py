"""Write the bad-input corpus: one small file per way a published report can be broken or odd.

Run from the repository root to (re)generate tests/bad_inputs/corpus/:

    .venv/bin/python tests/bad_inputs/make_corpus.py

What duban must do with each file is written down by hand in tests/bad_inputs/expected.toml and
checked by tests/test_bad_inputs.py, which also checks that the committed files are what this
script writes (byte for byte, or member by member for the deflated .docx; bit-rot-2021-Q1.xlsx,
whose damage lies in compressed bytes that depend on the zlib build, is left out of that check).

Every file is for the period 2021Q1, so that one `duban build` run covers them all, and every
file that loads names its own publisher in its title, so that none replaces another (reports of
the same publisher and period do)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import shutil
import struct
import sys
import zipfile
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # run as a script from anywhere

from tests.report_writers import (  # noqa: E402
    DEFAULT_HEADER,
    Record,
    sample_records,
    write_csv,
    write_docx,
    write_text,
    write_xls,
    write_xlsx,
)

CORPUS = HERE / "corpus"


def title(publisher: str) -> str:
    return f"{publisher}2021年经济社会发展责任目标第一季度工作推进情况一览表"


def record(no: str, text: str = "推进重点项目建设", progress: str = "已完成年度计划的三成",
           flag: str = "是", departments: str = "市发展改革委", leader: str = "张三") -> list[str]:
    """The 7 cells of one record."""
    return [no, leader, text, "年底", progress, flag, departments]


def text_report(publisher: str, rows: list[list[str]], header: list[str] | None = None) -> bytes:
    """Title on line 1, a blank line 2, the header on line 3, one row per line from line 4 (UTF-8, LF)."""
    lines = [f"# {title(publisher)}", "", "\t".join(header or DEFAULT_HEADER), *("\t".join(r) for r in rows)]
    return "\n".join(lines).encode("utf-8")


# ---------------------------------------------------------------- texts used by the cases and by the test

# case 6: one progress cell of 1,000,002 UTF-8 bytes (333,334 CJK characters), nothing to strip at either end
HUGE_PROGRESS = ("完成投资推进项目建设" * 33_334)[:333_334]

# case 8: cells a spreadsheet would take for formulas
FORMULAS = ['=HYPERLINK("http://x","y")', "=1+1", "+SUM(A1)", "@cmd"]

# case 9: SQL in cells
SQL_TEXTS = ["'; DROP TABLE fact_target_progress; --", "Robert'); DROP TABLE dim_report;--"]

# case 5: records with characters whose GBK bytes are not UTF-8; "·" in a leader's name, curly quotes in texts
GBK_RECORDS = sample_records(n=6, start=1, leaders=("欧阳·娜娜", "李四"), seed=5)

# case 20: an Excel CSV whose first quoted quote ("" inside a quoted cell) comes after the first 8192 characters
LATE_QUOTE_RECORDS = [
    dataclasses.replace(r, progress_text=r.progress_text.replace('"', "“").replace("\n", "").replace(",", ""))
    for r in sample_records(n=149, start=1, leaders=("孙七",), seed=8)
] + [Record("150", "孙七", "深化挥发性有机物治理", "6月底", '制定了"化工园区安全提升"工作方案，召开推进会议。', "是",
             ["市水务局"])]

# cases 4, 17-19: the damaged workbooks and documents start from these records
DAMAGED_RECORDS = sample_records(n=5, start=1, leaders=("王五",), seed=4)

# case 16: a workbook in the legacy .xls format saved under an .xlsx name
XLS_RECORDS = sample_records(n=4, start=1, leaders=("赵六",), seed=7)


def csv_report(publisher: str, rows: list[list[str]]) -> bytes:
    """A CSV as written by hand, without quoting: title row, header row, one row per record (UTF-8, CRLF)."""
    lines = [title(publisher) + ",,,,,,", ",".join(DEFAULT_HEADER), *(",".join(r) for r in rows)]
    return "\r\n".join(lines).encode("utf-8")


def _written(corpus: Path, name: str, write: Callable[[Path], object]) -> bytes:
    """The bytes a report writer produces (through a scratch file that is removed again)."""
    path = corpus / f"_scratch_{name}"
    write(path)
    data = path.read_bytes()
    path.unlink()
    return data


def _rezip(data: bytes, member: str | None = None, change: Callable[[bytes], bytes] = bytes,
           method: int = zipfile.ZIP_STORED) -> bytes:
    """The zip container with one member's content changed and the save times pinned (zip entries,
    docProps/core.xml), so that the members come out the same on every run. Stored members (the
    default) make the file itself the same byte for byte; deflated ones depend on the zlib build."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2021-04-01T00:00:00Z", content)
            if info.filename == member:
                content = change(content)
            pinned = zipfile.ZipInfo(info.filename, date_time=(2021, 4, 1, 0, 0, 0))
            pinned.external_attr = info.external_attr
            pinned.compress_type = method
            target.writestr(pinned, content)
    return out.getvalue()


def _flip_byte(data: bytes, member: str, offset: int) -> bytes:
    """The zip container with one byte of a member's compressed data inverted (its CRC no longer checked)."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    position = info.header_offset + 30 + name_len + extra_len + offset
    return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]


def make(corpus: Path = CORPUS) -> list[Path]:
    """Write every case into a fresh corpus folder; returns the files written."""
    if corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True)
    written: list[Path] = []

    def put(name: str, data: bytes) -> None:
        path = corpus / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)

    # 1. empty file
    put("empty-2021-Q1.txt", b"")

    # 2. title and header, no records
    put("header-only-2021-Q1.txt", text_report("乙一市人民政府", []) + b"\n")

    # 3. binary garbage with a text name: a deterministic byte salad with NULs
    put("garbage-2021-Q1.txt", hashlib.shake_256(b"duban bad input").digest(4096))

    # 4. an .xlsx cut off in the middle (its zip directory at the end is gone)
    workbook = _rezip(_written(corpus, "x.xlsx", lambda p: write_xlsx(p, title("乙二市人民政府"), DAMAGED_RECORDS)))
    put("truncated-2021-Q1.xlsx", workbook[: len(workbook) // 2])

    # 5. GBK-encoded text report (its bytes are not valid UTF-8)
    put("gbk-2021-Q1.txt", _written(corpus, "x.txt", lambda p: write_text(
        p, title("甲一市人民政府"), GBK_RECORDS, per_row=2, encoding="gbk", crlf=True
    )))

    # 6. one cell of about 1 MB
    put("huge-cell-2021-Q1.txt", text_report("甲二市人民政府", [
        record("1", progress=HUGE_PROGRESS),
        record("2"),
    ]))

    # 7. a row of 10,000 cells: a record followed by 9,993 more cells, every 1000th one filled
    wide = record("2") + ["多余内容" if i % 1000 == 999 else "" for i in range(9_993)]
    put("wide-row-2021-Q1.txt", text_report("甲三市人民政府", [record("1"), wide, record("3")]))

    # 8a. formula-looking cells in a text report
    put("formulas-2021-Q1.txt", text_report("甲四市人民政府", [
        record(str(n), text=f, progress=f) for n, f in enumerate(FORMULAS, start=1)
    ]))
    # 8b. the same in a workbook: openpyxl stores the strings starting with "=" as formulas (no saved result)
    formula_records = [Record(str(n), "张三", f, "年底", f, "是", ["市发展改革委"]) for n, f in enumerate(FORMULAS, 1)]
    put("formulas-2021-Q1.xlsx", _rezip(_written(
        corpus, "x.xlsx", lambda p: write_xlsx(p, title("甲五市人民政府"), formula_records)
    )))

    # 9. SQL in target, progress and department cells
    put("sql-2021-Q1.txt", text_report("甲六市人民政府", [
        record(str(n), text=s, progress=s, departments=s) for n, s in enumerate(SQL_TEXTS, start=1)
    ]))

    # 10. a file name with spaces, quotes and Chinese, in a folder with a space
    put("子 目录/甲市 \"季度\" 报告's-2021-Q1.txt", text_report("甲七市人民政府", [record("1"), record("2")]))

    # 11. a full-width target number, and a number with a suffix
    put("numbers-2021-Q1.txt", text_report("甲八市人民政府", [record("１"), record("７８"), record("78-1")]))

    # 12. one target number twice with different content
    put("duplicate-2021-Q1.txt", text_report("甲九市人民政府", [
        record("1"), record("2", text="推进重点项目建设"), record("3"), record("2", text="另一个目标"),
    ]))

    # 13. two-up table whose halves list the columns in different orders
    swapped = DEFAULT_HEADER[:2] + [DEFAULT_HEADER[3], DEFAULT_HEADER[2]] + DEFAULT_HEADER[4:]
    put("halves-disagree-2021-Q1.txt", text_report(
        "乙三市人民政府",
        [record("1") + [record("2")[i] for i in (0, 1, 3, 2, 4, 5, 6)]],
        header=DEFAULT_HEADER + swapped,
    ))

    # 14a. CSV where one cell opens a quote that never closes: unchecked, it swallows the rows after it
    put("stray-quote-2021-Q1.csv", csv_report("乙五市人民政府", [
        record("1"), record("2", progress='"正在履行采购程序'), record("3"), record("4"),
    ]))
    # 14b. CSV where an unquoted cell starts with a quoted word: unchecked, the quote marks vanish
    put("quoted-word-2021-Q1.csv", csv_report("乙六市人民政府", [
        record("1"), record("2"), record("3", progress='"十四五"规划编制已启动'),
    ]))

    # 15. UTF-16 (little endian) without a byte order mark
    utf8 = text_report("乙四市人民政府", [record("1")])
    put("utf16-no-bom-2021-Q1.txt", utf8.decode("utf-8").encode("utf-16-le"))

    # 16. a legacy .xls workbook renamed .xlsx
    put("legacy-renamed-2021-Q1.xlsx", _written(
        corpus, "x.xls", lambda p: write_xls(p, title("甲十市人民政府"), XLS_RECORDS)
    ))

    # 17. an .xlsx whose zip is whole but whose sheet XML is cut off
    sheet = "xl/worksheets/sheet1.xml"
    put("damaged-sheet-2021-Q1.xlsx", _rezip(workbook, sheet, lambda b: b[: len(b) // 2]))

    # 18. an .xlsx with one flipped byte inside the compressed sheet (bit rot)
    # (its bytes depend on the zlib build: the sheet has to be compressed to be damaged this way)
    put("bit-rot-2021-Q1.xlsx", _flip_byte(_rezip(workbook, method=zipfile.ZIP_DEFLATED), sheet, 10))

    # 19. a .docx whose zip is whole but whose document XML is cut off
    # (deflated: Word's default styles are 800 KB uncompressed)
    document = _written(corpus, "x.docx", lambda p: write_docx(p, title("乙九市人民政府"), DAMAGED_RECORDS))
    cut = _rezip(document, "word/document.xml", lambda b: b[: len(b) // 2], zipfile.ZIP_DEFLATED)
    put("damaged-2021-Q1.docx", cut)

    # 20. an Excel-saved CSV (GB18030, CRLF, minimal quoting) whose only quoted quotes come late in the file
    put("late-quotes-2021-Q1.csv", _written(corpus, "x.csv", lambda p: write_csv(
        p, title("甲十一市人民政府"), LATE_QUOTE_RECORDS
    )))

    # 21. a title year before 1990: the period is read but the warehouse takes only 1990–2100
    put("old-year-2021-Q1.txt", text_report("丙一市人民政府", [record("1")]).replace(b"2021", b"1985", 1))

    # 22. two-up rows with target numbers of five and more digits next to ordinary ones, and one
    #     number too long for any integer
    put("big-numbers-2021-Q1.txt", text_report("甲十二市人民政府", [
        record("9999") + record("10000"),
        record("123456") + record("7"),
        record("123456789012345678901234567890") + record("8"),
    ], header=DEFAULT_HEADER * 2))

    # 23. a saved page whose data table sits inside a page-layout table (one record per line from line 5)
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{cell}</td>" for cell in record(str(n), leader="钱八")) + "</tr>" for n in range(1, 11)
    )
    put("layout-table-2021-Q1.html", (
        f'<html><head><meta charset="utf-8"><title>{title("甲十三市人民政府")}</title></head><body>\n'
        '<table width="100%"><tr><td>导航</td></tr>\n<tr><td>\n<table border="1">\n'
        "<tr>" + "".join(f"<th>{h}</th>" for h in DEFAULT_HEADER) + "</tr>\n"
        f"{rows}\n</table>\n</td></tr></table>\n</body></html>\n"
    ).encode("utf-8"))

    return written


if __name__ == "__main__":
    for path in make():
        print(f"{path.stat().st_size:>9}  {path.relative_to(HERE)}")
