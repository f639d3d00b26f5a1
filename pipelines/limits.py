"""How much a raw file may expand to when read; beyond it the file is refused before it is parsed.

A 600 KB workbook can unzip to hundreds of megabytes (a zip bomb) and take gigabytes to parse. The
limits are read from the environment on each call, so a test or an operator can change them:

    DUBAN_MAX_EXPANDED_MB  total unzipped size of an .xlsx/.docx (default 50)
    DUBAN_MAX_ZIP_RATIO    unzipped / zipped size of any member over 1 MB unzipped (default 200)
    DUBAN_MAX_CELLS        cells of a workbook, all sheets together (default 500000)
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from pipelines.errors import TooLargeError
from pipelines.settings import whole_number

DEFAULTS = {"DUBAN_MAX_EXPANDED_MB": 50, "DUBAN_MAX_ZIP_RATIO": 200, "DUBAN_MAX_CELLS": 500_000}
_RATIO_FLOOR = 1 << 20  # small members (styles, themes) may compress very well; only large ones are checked
_CELL = re.compile(rb"<(?:\w+:)?c[\s>/]")


def limit(name: str) -> int:
    """The limit set by environment variable name, or its default; a value that is not a whole number above 0 is refused."""
    return whole_number(name, DEFAULTS[name])


def check_limits() -> None:
    """Refuse a bad limit setting before a build reads anything (workers would otherwise fail report by report)."""
    for name in DEFAULTS:
        limit(name)


def check_zip_expansion(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse a zip container whose members declare more unzipped bytes, or a higher ratio, than allowed."""
    members = archive.infolist()
    expanded = sum(info.file_size for info in members)
    max_mb = limit("DUBAN_MAX_EXPANDED_MB")
    if expanded > max_mb << 20:
        raise TooLargeError(
            path,
            f"the file unzips to {expanded / (1 << 20):.0f} MB, more than the {max_mb} MB duban reads "
            "(DUBAN_MAX_EXPANDED_MB); it may be a zip bomb — check the file, or raise the limit",
        )
    max_ratio = limit("DUBAN_MAX_ZIP_RATIO")
    for info in members:
        if info.file_size > _RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
            raise TooLargeError(
                path,
                f"the member {info.filename} unzips to {info.file_size // max(info.compress_size, 1)} times its "
                f"zipped size, more than {max_ratio} (DUBAN_MAX_ZIP_RATIO); it may be a zip bomb — check the "
                "file, or raise the limit",
            )


def check_cell_count(path: Path, cells: int) -> None:
    """Refuse a workbook with more cells than allowed."""
    max_cells = limit("DUBAN_MAX_CELLS")
    if cells > max_cells:
        raise TooLargeError(
            path,
            f"the workbook has {cells} cells, more than the {max_cells} duban reads (DUBAN_MAX_CELLS); "
            "check the file, or raise the limit",
        )


def count_xlsx_cells(archive: zipfile.ZipFile) -> int:
    """The <c> elements of every worksheet, counted while streaming the XML (constant memory)."""
    cells = 0
    for info in archive.infolist():
        if not (info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")):
            continue
        with archive.open(info) as member:
            tail = b""
            while block := member.read(1 << 20):
                chunk = tail + block
                start = chunk.rfind(b"<")
                # a tag cut off at the end of the block is counted with the next block
                cut = start if start != -1 and len(chunk) - start < 16 else len(chunk)
                cells += len(_CELL.findall(chunk, 0, cut))
                tail = chunk[cut:]
            cells += len(_CELL.findall(tail))
    return cells
