"""Reader for HTML tables in saved web pages; rowspan and colspan cells take their top-left value."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.decode import decode_report_bytes
from pipelines.errors import ReportRefused
from pipelines.grid import grid_from_rows


def _text(element) -> str:
    """An element's text with <br> as line breaks and runs of spaces folded."""
    for br in element.iter("br"):
        br.tail = "\n" + (br.tail or "")
    lines = ("".join(element.itertext())).split("\n")
    return "\n".join(" ".join(line.split()) for line in lines).strip()


def _fill_spanned(cells: list[str], pending: dict[int, tuple[int, str]]) -> None:
    """Append the values that cells spanning down from earlier rows put at the row's next positions."""
    while len(cells) in pending:
        column = len(cells)
        left, value = pending[column]
        cells.append(value)
        if left == 1:
            del pending[column]
        else:
            pending[column] = (left - 1, value)


def read_html_grid(path: Path, data: bytes) -> tuple[pl.DataFrame, str]:
    """Read a saved page: its title, then every row of the innermost tables; line_no is the source line of the row."""
    import lxml.html

    text, encoding = decode_report_bytes(data, path)
    try:
        page = lxml.html.document_fromstring(text.encode("utf-8"), parser=lxml.html.HTMLParser(encoding="utf-8"))
    except Exception as error:  # lxml raises several unrelated types for unparsable input
        raise ReportRefused(path, f"the web page cannot be parsed ({error})") from None
    # only data tables, each once: a page-layout table that holds another table is not read itself
    tables = [table for table in page.iter("table") if table.find(".//table") is None]
    if not tables:
        raise ReportRefused(path, "the web page holds no <table>; save the page that shows the report's table")
    rows: list[tuple[int, list[str]]] = []
    first_row = tables[0].find(".//tr")
    for heading in page.xpath("//title | //h1 | //h2 | //h3 | //h4 | //p"):
        if first_row is not None and heading.sourceline and heading.sourceline < (first_row.sourceline or 0):
            if _text(heading):
                rows.append((heading.sourceline, [_text(heading)]))
                break
    for table in tables:
        pending: dict[int, tuple[int, str]] = {}  # column → (rows still covered, text) from a rowspan
        for tr in table.iter("tr"):
            cells: list[str] = []
            for td in tr:
                if td.tag not in ("td", "th"):
                    continue
                _fill_spanned(cells, pending)
                value = _text(td)
                rowspan = int(td.get("rowspan", "1") or 1)
                for _ in range(int(td.get("colspan", "1") or 1)):
                    if rowspan > 1:
                        pending[len(cells)] = (rowspan - 1, value)
                    cells.append(value)
            _fill_spanned(cells, pending)
            rows.append((tr.sourceline or 0, cells))
    lines = [line for line, _ in rows]
    if any(b <= a for a, b in zip(lines, lines[1:])):
        # several rows on one source line (a minified page): number the rows instead
        rows = [(n, cells) for n, (_, cells) in enumerate(rows, start=1)]
    return grid_from_rows(rows), encoding
