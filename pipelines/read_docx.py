"""Reader for Word .docx files: paragraphs before the table (the title), then every table's rows."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from pipelines.errors import ReportRefused
from pipelines.grid import grid_from_rows


def read_docx_grid(path: Path, data: bytes) -> tuple[pl.DataFrame, str]:
    """Read a .docx report; line_no counts the document's paragraphs and table rows in order."""
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as error:  # a damaged file raises many unrelated types (zip, zlib, XML errors)
        raise ReportRefused(path, f"the Word document is damaged or truncated ({error}); re-save it") from None
    rows: list[list[str]] = []
    for block in document.iter_inner_content():
        if isinstance(block, docx.table.Table):
            # merged cells come back as the same cell repeated: each position gets the top-left text
            rows.extend([cell.text.strip() for cell in row.cells] for row in block.rows)
        elif block.text.strip():
            rows.append([block.text.strip()])
    return grid_from_rows([(n, r) for n, r in enumerate(rows, start=1)]), "docx"
