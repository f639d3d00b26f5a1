"""Render records into the file formats in which progress reports are published, for tests.

Each `write_*` function writes one file into a (temporary) folder and returns its path; the ones
whose layout is worth pointing into also say where each record landed (file line or sheet row,
1-based). Nothing here imports from `pipelines/`: these are independent fixtures for the readers.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence


@dataclass(frozen=True)
class Record:
    """One responsibility target as it appears in a report row."""

    target_no: str            # e.g. "53"
    leader_name: str          # e.g. "曹升灵"
    target_text: str
    deadline_text: str        # e.g. "年底", "6月底"
    progress_text: str        # may contain "\n" (a line break inside the cell)
    on_schedule: str          # "是" or "否"
    departments: list[str]    # e.g. ["市科技局", "市发展改革委"]; the first one leads

    def cells(self, separator: str = " ") -> list[str]:
        """The 7 cells of the row, departments joined by `separator`."""
        return [self.target_no, self.leader_name, self.target_text, self.deadline_text,
                self.progress_text, self.on_schedule, separator.join(self.departments)]


DEFAULT_HEADER = ["序号", "市政府领导", "责任目标内容", "完成时限", "完成情况", "是否完成计划进度", "责任单位"]
WIDTH = len(DEFAULT_HEADER)


class Written(NamedTuple):
    """A written file and where each record landed: target_no -> 1-based line or row."""

    path: Path
    rows: dict[str, int]


# ---------------------------------------------------------------- shared helpers


def _header(header: Sequence[str] | None) -> list[str]:
    """The 7 header cells: the default or a validated override."""
    cells = list(DEFAULT_HEADER if header is None else header)
    if len(cells) != WIDTH:
        raise ValueError(f"header needs {WIDTH} cells, got {len(cells)}")
    return cells


def _leader_runs(records: Sequence[Record]) -> list[tuple[int, int]]:
    """(first index, length) of each run of consecutive records with the same leader."""
    runs: list[tuple[int, int]] = []
    for i, rec in enumerate(records):
        if runs and records[runs[-1][0]].leader_name == rec.leader_name:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


def _number(target_no: str) -> int | str:
    """The target number as an int when it is all digits (as spreadsheets store it)."""
    return int(target_no) if target_no.isdigit() else target_no


def _encode(text: str, encoding: str, bom: bool) -> bytes:
    """Encode, adding a byte order mark when asked and the codec does not add one itself."""
    if bom and codecs.lookup(encoding).name not in ("utf-16", "utf-32", "utf-8-sig"):
        text = "\ufeff" + text
    return text.encode(encoding)


# ---------------------------------------------------------------- text export


@dataclass(frozen=True)
class TextLayout:
    """The lines of a text export (no line endings) and where records and ghosts landed."""

    lines: list[str]
    record_lines: dict[str, int]          # target_no -> 1-based file line
    ghost_lines: list[tuple[int, str]]    # (1-based file line, ghost target_no)


def _columns(records: Sequence[Record], per_row: int,
             column_sizes: Sequence[int] | None) -> list[list[Record]]:
    """Split records into per_row printed columns: ceil(n/per_row) each, the last takes the rest."""
    if column_sizes is None:
        size = math.ceil(len(records) / per_row) if records else 0
        column_sizes = [min(size, max(0, len(records) - k * size)) for k in range(per_row)]
    if len(column_sizes) != per_row or sum(column_sizes) != len(records):
        raise ValueError(f"column_sizes {column_sizes} do not split {len(records)} records in {per_row}")
    out, start = [], 0
    for size in column_sizes:
        out.append(list(records[start:start + size]))
        start += size
    return out


def text_layout_lines(title: str, records: Sequence[Record], *, per_row: int = 2,
                      ghosts: Sequence[tuple[int, str, str]] = (), header: Sequence[str] | None = None,
                      footnote: str | None = None, department_separator: str = " ",
                      column_sizes: Sequence[int] | None = None, newline_in_cell: str = " ") -> TextLayout:
    """Lay out a text export and report the 1-based line of every record and ghost (see write_text)."""
    if per_row < 1:
        raise ValueError("per_row must be at least 1")
    columns = _columns(records, per_row, column_sizes)
    left: list[Record | tuple[str, str]] = list(columns[0])
    for row_index, target_no, leader in sorted(ghosts, key=lambda g: g[0]):
        if not 0 <= row_index <= len(left):
            raise ValueError(f"ghost row {row_index} is beyond the left column ({len(left)} rows)")
        left.insert(row_index, (target_no, leader))
    columns[0] = left
    n_rows = max(len(col) for col in columns)
    lines = ["", "", f"# {title}", "", "\t".join(_header(header) * per_row)]
    record_lines: dict[str, int] = {}
    ghost_lines: list[tuple[int, str]] = []
    for r in range(n_rows):
        line_no = len(lines) + 1
        cells: list[str] = []
        ghost = False
        for col in columns:
            slot = col[r] if r < len(col) else None
            if isinstance(slot, Record):
                cells += [c.replace("\t", " ").replace("\n", newline_in_cell)
                          for c in slot.cells(department_separator)]
                record_lines[slot.target_no] = line_no
            elif isinstance(slot, tuple):
                cells += [slot[0], slot[1], "", "", "", ""]
                ghost_lines.append((line_no, slot[0]))
                ghost = True
            else:
                cells += [""] * WIDTH
        lines.append("\t".join(cells + ([""] if ghost else [])))
    if footnote is not None:
        lines.append(footnote)
    return TextLayout(lines, record_lines, ghost_lines)


def write_text(path: Path, title: str, records: Sequence[Record], *, per_row: int = 2,
               ghosts: Sequence[tuple[int, str, str]] = (), bom: bool = False, crlf: bool = False,
               encoding: str = "utf-8", header: Sequence[str] | None = None, footnote: str | None = None,
               department_separator: str = " ", column_sizes: Sequence[int] | None = None,
               newline_in_cell: str = " ") -> Path:
    """Write the seed's text-export layout (title line, tab-separated blocks of 7 cells) and return path.

    Layout: two blank lines, `# {title}`, a blank line, the header repeated per_row times, then one
    line per data row holding per_row records side by side, and the footnote line if any. No line
    ending after the last line (like the seed). Records fill printed columns left to right: column k
    holds records[k*c:(k+1)*c] with c = ceil(n/per_row) (or `column_sizes`, e.g. (25, 29) for the
    seed); slots past the end of a column are 7 empty cells.

    Ghosts `(row_index, target_no, leader_name)` are inserted into the LEFT column at data row
    row_index (0-based, in ascending order), pushing the real left records down: a ghost block is
    only the number and the leader plus 4 empty cells (6 cells), so the rest of its line shifts one
    cell left and the line ends with a stray empty cell — as lines 31–34 of raw/heze-2021-Q1.txt.
    When the left column is then longer than the others, their extra slots are empty cells.
    Tabs and line breaks inside cells become a space (`newline_in_cell`) so a row stays one line.
    `bom` adds a byte order mark unless the codec writes one itself ("utf-16" does); `crlf` ends
    lines with CRLF. Use `text_layout_lines` with the same arguments to know where records landed.
    """
    layout = text_layout_lines(title, records, per_row=per_row, ghosts=ghosts, header=header,
                               footnote=footnote, department_separator=department_separator,
                               column_sizes=column_sizes, newline_in_cell=newline_in_cell)
    text = ("\r\n" if crlf else "\n").join(layout.lines)
    path.write_bytes(_encode(text, encoding, bom))
    return path


# ---------------------------------------------------------------- CSV


def _csv_text(title: str, records: Sequence[Record], *, crlf: bool, header: Sequence[str] | None,
              department_separator: str, footnote: str | None, pad: bool) -> tuple[str, dict[str, int]]:
    """The CSV text and each record's first physical line (1-based)."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n" if crlf else "\n")
    filler = [""] * (WIDTH - 1) if pad else []
    writer.writerow([title, *filler])
    writer.writerow(_header(header))
    starts: dict[str, int] = {}
    for rec in records:
        starts[rec.target_no] = buf.getvalue().count("\n") + 1
        writer.writerow(rec.cells(department_separator))
    if footnote is not None:
        writer.writerow([footnote, *filler])
    return buf.getvalue(), starts


def csv_record_lines(title: str, records: Sequence[Record], *, header: Sequence[str] | None = None,
                     department_separator: str = "、", footnote: str | None = None) -> dict[str, int]:
    """target_no -> 1-based physical line where its row starts in write_csv's output."""
    return _csv_text(title, records, crlf=True, header=header, department_separator=department_separator,
                     footnote=footnote, pad=True)[1]


def write_csv(path: Path, title: str, records: Sequence[Record], *, encoding: str = "gb18030",
              bom: bool = False, crlf: bool = True, header: Sequence[str] | None = None,
              department_separator: str = "、", footnote: str | None = None, pad: bool = True) -> Path:
    """Write one record per CSV row (title row, header, records, footnote) and return path.

    Quoting is QUOTE_MINIMAL, so cells with commas, double quotes or line breaks are quoted; a line
    break inside a cell stays a bare "\\n" while rows end with CRLF (as Excel saves). With `pad` the
    title and footnote rows are padded to 7 cells ("title,,,,,,") as Excel writes a merged row.
    Line numbers do not depend on crlf/pad: see `csv_record_lines`.
    """
    text, _ = _csv_text(title, records, crlf=crlf, header=header,
                        department_separator=department_separator, footnote=footnote, pad=pad)
    path.write_bytes(_encode(text, encoding, bom))
    return path


# ---------------------------------------------------------------- spreadsheets


def write_xlsx(path: Path, title: str, records: Sequence[Record], *, header: Sequence[str] | None = None,
               footnote: str | None = None, merge_leaders: bool = True,
               department_separator: str = " ") -> Written:
    """Write an .xlsx (title merged over A1:G1, header row 2, records from row 3); return (path, rows)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment

    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.cell(1, 1, title)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=WIDTH)
    for c, text in enumerate(_header(header), start=1):
        ws.cell(2, c, text)
    wrap = Alignment(wrap_text=True, vertical="center")
    rows: dict[str, int] = {}
    for i, rec in enumerate(records):
        row = 3 + i
        rows[rec.target_no] = row
        for c, value in enumerate(rec.cells(department_separator), start=1):
            if c == 1:
                value = _number(value)
            if c == 2 and merge_leaders and i > 0 and records[i - 1].leader_name == rec.leader_name:
                continue  # the top cell of the merged range holds the leader
            ws.cell(row, c, value).alignment = wrap
    if merge_leaders:
        for start, length in _leader_runs(records):
            if length > 1:
                ws.merge_cells(start_row=3 + start, start_column=2, end_row=2 + start + length, end_column=2)
    if footnote is not None:
        ws.cell(3 + len(records), 1, footnote)
    for letter, width in zip("ABCDEFG", (6, 10, 40, 10, 60, 10, 24)):
        ws.column_dimensions[letter].width = width
    wb.save(path)
    return Written(path, rows)


def write_xls(path: Path, title: str, records: Sequence[Record], *, header: Sequence[str] | None = None,
              footnote: str | None = None, merge_leaders: bool = True,
              department_separator: str = " ") -> Written:
    """Write a legacy .xls via xlwt with write_xlsx's layout; return (path, 1-based rows)."""
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Sheet1")
    wrap = xlwt.easyxf("align: wrap on, vert centre")
    ws.write_merge(0, 0, 0, WIDTH - 1, title)
    for c, text in enumerate(_header(header)):
        ws.write(1, c, text)
    runs = {start: length for start, length in _leader_runs(records)} if merge_leaders else {}
    rows: dict[str, int] = {}
    for i, rec in enumerate(records):
        r = 2 + i
        rows[rec.target_no] = r + 1
        for c, value in enumerate(rec.cells(department_separator)):
            if c == 0:
                ws.write(r, c, _number(value))
            elif c == 1 and merge_leaders:
                if runs.get(i, 1) > 1:
                    ws.write_merge(r, r + runs[i] - 1, 1, 1, value, wrap)
                elif i in runs:
                    ws.write(r, c, value, wrap)
            else:
                ws.write(r, c, value, wrap)
    if footnote is not None:
        ws.write(2 + len(records), 0, footnote)
    wb.save(str(path))
    return Written(path, rows)


# ---------------------------------------------------------------- Word and web page


def write_docx(path: Path, title: str, records: Sequence[Record], *, header: Sequence[str] | None = None,
               footnote: str | None = None, department_separator: str = " ") -> Path:
    """Write a .docx: a bold centred title paragraph, one table (header + a row per record); return path.

    A "\\n" inside a cell becomes a new paragraph in that cell (python-docx's cell.text joins the
    paragraphs with "\\n" when read back).
    """
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    doc = Document()
    para = doc.add_paragraph()
    para.alignment = WD_ALIGN_PARAGRAPH.CENTER
    para.add_run(title).bold = True
    table = doc.add_table(rows=1 + len(records), cols=WIDTH)
    table.style = "Table Grid"
    for row, cells in zip(table.rows, [_header(header)] + [r.cells(department_separator) for r in records]):
        for cell, text in zip(row.cells, cells):
            first, *more = text.split("\n")
            cell.text = first
            for line in more:
                cell.add_paragraph(line)
    if footnote is not None:
        doc.add_paragraph(footnote)
    doc.save(str(path))
    return path


def write_html(path: Path, title: str, records: Sequence[Record], *, header: Sequence[str] | None = None,
               encoding: str = "utf-8", rowspan_leaders: bool = True, footnote: str | None = None,
               department_separator: str = " ") -> Written:
    """Write a saved web page with one <table>, each <tr> on its own line; return (path, rows).

    Line 1 is `<html><head><meta charset=…><title>…</title></head><body><h3>…</h3><table>`, line 2 the
    <th> header row, line 3 + i the <tr> of records[i] (the returned rows). With rowspan_leaders the
    first leader cell of a run of N > 1 same-leader records has rowspan="N" and the following rows
    omit it. Cell text is HTML-escaped and "\\n" becomes <br>.
    """
    def td(text: str, attrs: str = "") -> str:
        return f"<td{attrs}>{html.escape(text).replace(chr(10), '<br>')}</td>"

    t = html.escape(title)
    lines = [f'<html><head><meta charset="{encoding}"><title>{t}</title></head><body><h3>{t}</h3><table>',
             "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in _header(header)) + "</tr>"]
    runs = dict(_leader_runs(records)) if rowspan_leaders else {}
    rows: dict[str, int] = {}
    for i, rec in enumerate(records):
        rows[rec.target_no] = len(lines) + 1
        tds = []
        for c, text in enumerate(rec.cells(department_separator)):
            if c == 1 and rowspan_leaders:
                if i in runs:
                    tds.append(td(text, f' rowspan="{runs[i]}"' if runs[i] > 1 else ""))
                continue
            tds.append(td(text))
        lines.append("<tr>" + "".join(tds) + "</tr>")
    lines.append("</table>")
    if footnote is not None:
        lines.append(f"<p>{html.escape(footnote)}</p>")
    lines.append("</body></html>")
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return Written(path, rows)


# ---------------------------------------------------------------- sample data

_DEPARTMENTS = ["市科技局", "市发展改革委", "市工业和信息化局", "市住房城乡建设局", "市水务局",
                "市生态环境局", "市自然资源和规划局", "市市场监管局", "市城管局", "市国资委", "市大数据局"]
_VERBS = ["加快推进", "积极争取", "着力培育", "大力实施", "持续推进", "全面推行", "稳妥有序推进", "深化"]
_OBJECTS = ["生物医药产业园", "高新技术企业", "老旧小区改造", "海绵城市建设", "化工园区安全提升",
            "新型基础设施", "“五湖十河”水系贯通", "挥发性有机物治理", "知识产权保护", "数据“聚通用”"]
_GOALS = ["建设", "工程", "，力争年内取得阶段性成果", "，确保完成省下达任务", "，新增 {n} 个以上",
          "，增长{p}%以上"]
_PROGRESS = ["已完成{obj}摸底调查", "召开全市{obj}推进会议", "累计完成 {n} 个小区", "完成投资{m},{k:03d}万元",
             "督导企业开工建设", "已将“双随机、一公开”纳入日常监管", "制定了\"{obj}\"工作方案",
             "正在履行采购程序", "已形成初步方案，征求各县区意见"]


def sample_records(n: int = 54, start: int = 53, leaders: Sequence[str] = ("曹升灵", "王忠想"),
                   seed: int = 0) -> list[Record]:
    """Deterministic realistic records numbered start…start+n-1, leaders in contiguous equal runs.

    Guaranteed whatever the seed: every 5th record (i % 5 == 2) has a "\\n" in its progress, every
    6th (i % 6 == 3) a spaced number like "54 个小区", every 9th (i % 9 == 4) is 否, 1–3 departments.
    """
    rng = random.Random(seed)
    run = math.ceil(n / len(leaders)) if n else 1
    out = []
    for i in range(n):
        obj = rng.choice(_OBJECTS)
        goal = rng.choice(_GOALS).format(n=rng.randint(3, 300), p=rng.choice([5, 6, 10, 15]))
        parts = [t.format(obj=obj, n=rng.randint(10, 400), m=rng.randint(1, 9), k=rng.randint(0, 999))
                 for t in rng.sample(_PROGRESS, 2)]
        if i % 6 == 3:
            parts[0] = f"累计完成 {rng.randint(10, 99)} 个小区"
        progress = (f"1.{parts[0]}；\n2.{parts[1]}" if i % 5 == 2 else "，".join(parts)) + "。"
        deadline = rng.choices(["年底", "6月底", "11月底"], weights=[8, 1, 1])[0]
        on_schedule = "否" if i % 9 == 4 or rng.random() < 0.05 else "是"
        departments = rng.sample(_DEPARTMENTS, rng.choices([1, 2, 3], weights=[6, 3, 1])[0])
        out.append(Record(str(start + i), leaders[min(i // run, len(leaders) - 1)],
                          f"{rng.choice(_VERBS)}{obj}{goal}", deadline, progress, on_schedule, departments))
    return out
