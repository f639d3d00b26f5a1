"""Time reading the benchmark corpus's Excel reports: calamine (what duban reads with) against openpyxl/xlrd.

Writes --xlsx and --xls workbooks the way bench/generate_corpus.py does (54 records, merged title and
leader cells), then reads each one with every reader, in turn, --rounds times, and prints the median
and total seconds per file with the machine it ran on. Each reader's grid is checked against the
reference grid, so a faster reader that reads differently shows up as a mismatch.

    python -m bench.excel_read [--xlsx 200] [--xls 100] [--rounds 3] [--work DIR]

fastexcel is timed too when it is installed (it is not a dependency): it reads the sheet as typed
columns with no merged ranges, so its grid is not comparable and is not checked.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

from bench.generate_corpus import LEADERS, QUARTER_WORDS, publisher_name, quarter_records
from pipelines import read_excel
from pipelines.grid import grid_from_rows
from tests.report_writers import sample_records, write_xls, write_xlsx


def write_workbooks(folder: Path, xlsx: int, xls: int) -> list[Path]:
    """xlsx + xls quarterly reports of distinct publishers, as the benchmark corpus writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(xlsx + xls):
        rng = random.Random(i)
        year, quarter = 2015 + i % 10, 1 + i % 4
        base = sample_records(n=54, start=1, leaders=LEADERS[: rng.randint(2, 4)], seed=i)
        title = f"{publisher_name(i)}{year}年经济社会发展责任目标{QUARTER_WORDS[quarter]}工作推进情况一览表"
        writer, suffix = (write_xlsx, ".xlsx") if i < xlsx else (write_xls, ".xls")
        paths.append(writer(folder / f"r{i:04d}{suffix}", title, quarter_records(base, quarter, rng)).path)
    return paths


def _before(path: Path, data: bytes):
    """How duban read a workbook before calamine: openpyxl (twice when formulas need results) or xlrd."""
    if path.suffix == ".xls":
        values, merged = read_excel.xlrd_xls_values(path, data)
    else:
        values, merged = read_excel.openpyxl_xlsx_values(data)
    read_excel._fill_merged(values, merged)
    return grid_from_rows(list(enumerate(values, start=1)))


def _now(path: Path, data: bytes):
    reader = read_excel.read_xls_grid if path.suffix == ".xls" else read_excel.read_xlsx_grid
    return reader(path, data)[0]


def _fastexcel(path: Path, data: bytes):
    import fastexcel

    return fastexcel.read_excel(data).load_sheet(0, header_row=None, dtypes="string").to_polars()


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in
                         ("python-calamine", "openpyxl", "xlrd", "fastexcel") if _installed(name))
    return (f"{cpu}, {os.cpu_count()} cores; {platform.system()} {platform.release()}; Python {platform.python_version()}; "
            f"{versions}; load average {load}")


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xlsx", type=int, default=200)
    parser.add_argument("--xls", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="folder for the workbooks (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.work or Path(temporary)
        paths = write_workbooks(folder, args.xlsx, args.xls)
        files = [(p, p.read_bytes()) for p in paths]
        readers: dict[str, Callable] = {"before (openpyxl/xlrd)": _before, "now (calamine)": _now}
        if _installed("fastexcel"):
            readers["fastexcel (no merged cells)"] = _fastexcel
        seconds: dict[tuple[str, str], list[float]] = {}
        mismatches = 0
        for _ in range(args.rounds):
            for path, data in files:
                grids = {}
                for name, reader in readers.items():
                    started = time.perf_counter()
                    grids[name] = reader(path, data)
                    seconds.setdefault((name, path.suffix), []).append(time.perf_counter() - started)
                mismatches += not grids["now (calamine)"].equals(grids["before (openpyxl/xlrd)"])
    print(f"machine: {machine()}")
    print(f"{args.xlsx} .xlsx + {args.xls} .xls reports (54 records each), {args.rounds} rounds; "
          f"grids differing from openpyxl/xlrd: {mismatches}")
    print(f"{'reader':<30} {'form':<6} {'median ms/file':>15} {'total s':>9}")
    for (name, suffix), times in seconds.items():
        print(f"{name:<30} {suffix:<6} {statistics.median(times) * 1000:>15.2f} {sum(times) / args.rounds:>9.2f}")
    for suffix in (".xlsx", ".xls"):
        before = statistics.median(seconds[("before (openpyxl/xlrd)", suffix)])
        now = statistics.median(seconds[("now (calamine)", suffix)])
        print(f"{suffix}: calamine reads a file {before / now:.1f}× as fast as before")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
