"""duban's benchmark: full build of a generated corpus against the polars and DuckDB read floors, an added
quarter on a full and on an empty warehouse, the comparison queries, and the seed build. Prints a table
and writes a Markdown report (the table, each stage's share of the
full build, the machine it ran on) to --output, by default WORK/BENCHMARKS.md, for BENCHMARKS.md.

    python -m bench.run_benchmark [--publishers 300] [--years 10] [--work DIR] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl

from bench.generate_corpus import generate, write_publisher

REPO = Path(__file__).resolve().parent.parent
DUBAN = Path(sys.executable).with_name("duban")
QUERIES = ["v_target_history", "v_schedule_changes", "v_department_scorecard"]


def _say(message: str) -> None:
    print(message, flush=True)


def run_duban_build(
    raw: Path, warehouse: Path | str, home: Path, extra: list[str] | None = None
) -> tuple[float, int, dict]:
    """Run `duban build --json` as a process; returns (seconds, peak RSS in bytes of the largest child so far,
    the build's JSON document, whose `timings` hold each stage's seconds)."""
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    home.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    proc = subprocess.run(
        [str(DUBAN), "build", "--json", "--raw", str(raw), "--warehouse", str(warehouse), *(extra or [])],
        capture_output=True, text=True, env=env, cwd=home.parent,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"duban build failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return seconds, peak, json.loads(proc.stdout)


def stage_table(timings: dict[str, float]) -> list[tuple[str, float, float]]:
    """(stage, seconds, share of the build's total) for every stage of one build's `timings`, the total last."""
    total = timings.get("total") or 0.0
    rows = [(name, value, value / total if total else 0.0) for name, value in timings.items() if name != "total"]
    return rows + [("total", total, 1.0)]


def polars_floor(files: list[Path]) -> float:
    """Seconds to read every text/CSV file into a polars frame, no reshaping."""
    started = time.perf_counter()
    for path in files:
        pl.read_csv(
            path, separator="\t" if path.suffix == ".txt" else ",", has_header=False, quote_char=None,
            infer_schema=False, truncate_ragged_lines=True, encoding="utf8-lossy", schema_overrides=None,
            new_columns=None, comment_prefix=None, raise_if_empty=False,
        )
    return time.perf_counter() - started


def duckdb_floor(files: list[Path]) -> float:
    """Seconds for DuckDB's read_csv to load every text/CSV file into a table, no reshaping."""
    started = time.perf_counter()
    with duckdb.connect() as con:
        for suffix, delim in ((".txt", "\t"), (".csv", ",")):
            chosen = [str(p) for p in files if p.suffix == suffix]
            if chosen:
                con.execute(
                    f"""CREATE TABLE t{suffix[1:]} AS SELECT * FROM read_csv(?, delim='{delim}', header=false,
                        quote='', escape='', auto_detect=false, null_padding=true, ignore_errors=true,
                        strict_mode=false, encoding='utf-8', filename=true, columns={{
                        {', '.join(f"'c{i}': 'VARCHAR'" for i in range(16))}}})""",
                    [chosen],
                )
    return time.perf_counter() - started


def query_seconds(warehouse: Path) -> dict[str, tuple[float, float, int]]:
    """Per comparison view, best of three: (seconds to compute it whole inside DuckDB, seconds to also fetch it
    into a polars frame, rows)."""
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for view in QUERIES:
            computed, fetched, rows = [], [], 0
            for _ in range(3):
                started = time.perf_counter()
                con.execute(f"CREATE OR REPLACE TEMP TABLE answer AS SELECT * FROM {view}")
                computed.append(time.perf_counter() - started)
                started = time.perf_counter()
                rows = con.execute(f"SELECT * FROM {view}").pl().height
                fetched.append(time.perf_counter() - started)
            out[view] = (min(computed), min(fetched), rows)
    return out


def seed_command_seconds(work: Path) -> float:
    """The README's main command on the seed alone (set-up already done), from process start to exit."""
    folder = work / "seed"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "raw").mkdir(parents=True)
    shutil.copy2(REPO / "raw" / "heze-2021-Q1.txt", folder / "raw")
    env = {**os.environ, "DAGSTER_HOME": str(folder / "home"), "DUBAN_RAW": str(folder / "raw"),
           "DUBAN_WAREHOUSE": str(folder / "w" / "duban.duckdb")}
    started = time.perf_counter()
    subprocess.run(["sh", "-c", f"sh {REPO}/bootstrap.sh && {DUBAN} build"], check=True, env=env, cwd=folder,
                   capture_output=True)
    return time.perf_counter() - started


def seed_build_seconds(work: Path) -> float:
    """`duban build` of the seed report into an empty warehouse (fresh Dagster home), process start to exit."""
    folder = work / "seed-build"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "raw").mkdir(parents=True)
    shutil.copy2(REPO / "raw" / "heze-2021-Q1.txt", folder / "raw")
    seconds, _, _ = run_duban_build(folder / "raw", folder / "w" / "duban.duckdb", folder / "home")
    return seconds


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    mem = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    return (f"{cpu}, {os.cpu_count()} cores, {mem / 2**20:.1f} GiB RAM; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, polars {pl.__version__}")


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else f"missed by {value / target:.1f}× ({value - target:+.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishers", type=int, default=300)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--work", type=Path, default=Path("/tmp/duban-bench"))
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work
    args.output = args.output or work / "BENCHMARKS.md"
    load_at_start = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    corpus = work / f"corpus-{args.publishers}x{args.years}"
    if not corpus.exists():
        _say(f"generating {args.publishers} × {args.years} × 4 reports under {corpus} …")
        generate(corpus, args.publishers, args.years)
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    text_files = [p for p in files if p.suffix in (".txt", ".csv")]
    _say(f"corpus: {len(files)} files ({len(text_files)} text/CSV), {sum(p.stat().st_size for p in files) / 2**20:.0f} MiB")

    full = work / "full"
    shutil.rmtree(full, ignore_errors=True)
    full.mkdir(parents=True)
    warehouse = full / "w" / "duban.duckdb"
    _say("full build …")
    build_s, peak, document = run_duban_build(corpus, warehouse, full / "home")
    stages = stage_table(document["timings"])
    with duckdb.connect(str(warehouse), read_only=True) as con:
        records = con.execute("SELECT sum(records_read) FROM dim_report WHERE status = 'loaded'").fetchone()[0]
        facts = con.execute("SELECT count(*) FROM fact_target_progress").fetchone()[0]
    _say(f"  {build_s:.1f}s, {records} records, peak RSS {peak / 2**20:.0f} MiB")
    for name, seconds, share in stages:
        _say(f"    {name:<32} {seconds:8.2f} s  {100 * share:5.1f} %")
    _say("nothing new …")
    nothing_s, _, _ = run_duban_build(corpus, warehouse, full / "home")
    _say("floors …")
    polars_s = polars_floor(text_files)
    duckdb_s = duckdb_floor(text_files)

    _say("one added quarter …")
    year = 2015 + args.years
    extra = work / "extra"
    shutil.rmtree(extra, ignore_errors=True)
    write_publisher((extra, 0, year, 1))
    new_file = sorted((extra / "p0000").glob(f"*-{year}-Q1.*"))[0]
    target = corpus / "p0000" / new_file.name
    shutil.copy2(new_file, target)
    try:
        add_full_s, _, _ = run_duban_build(corpus, warehouse, full / "home")
    finally:
        target.unlink()
    empty = work / "empty"
    shutil.rmtree(empty, ignore_errors=True)
    (empty / "raw").mkdir(parents=True)
    shutil.copy2(new_file, empty / "raw")
    add_empty_s, _, _ = run_duban_build(empty / "raw", empty / "w" / "duban.duckdb", empty / "home")

    _say("queries …")
    queries = query_seconds(warehouse)
    _say("seed …")
    seed_build_s = seed_build_seconds(work)
    seed_s = seed_command_seconds(work)

    ratio = add_full_s / add_empty_s
    rows = [
        ("full build, wall", f"{build_s:.1f} s", "≤ 60 s", verdict(build_s, 60)),
        ("full build, records/s", f"{records / build_s:,.0f}", "", ""),
        ("full build, peak memory", f"{peak / 2**30:.2f} GiB", "≤ 2 GiB", verdict(peak / 2**30, 2)),
        ("floor: polars read_csv", f"{polars_s:.1f} s", "", ""),
        ("floor: DuckDB read_csv", f"{duckdb_s:.1f} s", "", ""),
        ("build / polars floor", f"{build_s / polars_s:.1f}×", "≤ 5×", verdict(build_s / polars_s, 5)),
        ("one quarter added to the full warehouse", f"{add_full_s:.2f} s", "≤ 3 s", verdict(add_full_s, 3)),
        ("one quarter added to an empty warehouse", f"{add_empty_s:.2f} s", "", ""),
        ("added quarter: full / empty", f"{ratio:.2f}×", "≤ 1.3×", verdict(ratio, 1.3)),
        ("build with nothing new (full warehouse)", f"{nothing_s:.2f} s", "≤ 1 s", verdict(nothing_s, 1)),
        ("seed build into an empty warehouse", f"{seed_build_s:.2f} s", "≤ 3 s", verdict(seed_build_s, 3)),
        *[(f"query {v} ({n:,} rows), computed in DuckDB", f"{s * 1000:.0f} ms", "≤ 1 s", verdict(s, 1))
          for v, (s, _, n) in queries.items()],
        *[(f"query {v}, computed and fetched into polars", f"{f * 1000:.0f} ms", "", "")
          for v, (_, f, _) in queries.items()],
        ("README main command on the seed (bootstrap + build)", f"{seed_s:.1f} s", "", ""),
    ]
    width = max(len(r[0]) for r in rows)
    table = "\n".join(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)
    for a, b, c, d in rows:
        _say(f"{a:<{width}}  {b:>12}  {c:>7}  {d}")
    stage_rows = "\n".join(f"| {name} | {seconds:.1f} | {100 * share:.1f} % |" for name, seconds, share in stages)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        f"""# Benchmarks

Measured by `python -m bench.run_benchmark --publishers {args.publishers} --years {args.years}` on {when}.

Machine: {machine()}; load average when it started: {load_at_start}.

Corpus: {len(files):,} files ({args.publishers} publishers × {args.years} years × 4 quarters), {sum(p.stat().st_size for p in files) / 2**20:.0f} MiB,
{records:,} records read, {facts:,} facts; about 80 % doubled-up text with ghost rows, 8 % GB18030 CSV, and
xlsx, xls, docx and HTML for the rest.
The floors read the same text and CSV files (not the xlsx) with no reshaping.

| measure | value | target | result |
|---|---|---|---|
{table}

Where the full build's time went (`duban build --json` timings):

| stage | seconds | share |
|---|---:|---:|
{stage_rows}
""",
        encoding="utf-8",
    )
    _say(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
