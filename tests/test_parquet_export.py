"""The Parquet export is switched as a whole: a reader never sees tables from two different builds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl

from tests.conftest import run_build
from tests.report_writers import sample_records, write_text

READER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import polars as pl
    link, stop = Path(sys.argv[1]), Path(sys.argv[2])
    reads = mixed = 0
    while not stop.exists():
        if not link.exists():
            continue
        version = Path(os.path.realpath(link))  # resolve the link once: one build's export
        try:
            facts = pl.read_parquet(version / "fact_target_progress" / "**" / "*.parquet", hive_partitioning=True)
            flat = pl.read_parquet(version / "v_progress" / "**" / "*.parquet", hive_partitioning=True)
            reports = pl.read_parquet(version / "dim_report" / "**" / "*.parquet", hive_partitioning=True)
        except Exception as error:
            print("READ ERROR", type(error).__name__, error, flush=True)
            mixed += 1
            continue
        reads += 1
        loaded = reports.filter(pl.col("status") == "loaded")["accepted"].sum()
        if not (facts.height == flat.height == loaded):
            mixed += 1
            print("MIXED", version.name, facts.height, flat.height, loaded, flush=True)
    print(f"reads={reads} mixed={mixed}", flush=True)
    """
)


def _quarter(raw: Path, label: str, key: str, n: int) -> None:
    write_text(raw / f"test-{key}.txt", f"测试市人民政府2021年{label}责任目标完成情况一览表", sample_records(n=n, start=1, seed=n))


def test_a_reader_never_sees_two_builds_at_once(raw_dir: Path, tmp_path: Path) -> None:
    warehouse, home = tmp_path / "w" / "duban.duckdb", tmp_path / "home"
    assert run_build(raw_dir, warehouse, home).returncode == 0
    link, stop = warehouse.parent / "parquet", tmp_path / "stop"
    assert link.is_symlink()
    reader = subprocess.Popen([sys.executable, "-c", READER, str(link), str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        versions = {os.path.realpath(link)}
        for label, key, n in [("上半年", "2021Q2", 40), ("前三季度", "2021Q3", 30), ("全年", "2021Q4", 20)]:
            _quarter(raw_dir, label, key, n)
            build = run_build(raw_dir, warehouse, home)
            assert build.returncode == 0, build.stdout + build.stderr
            versions.add(os.path.realpath(link))
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=120)
    assert len(versions) == 4  # every build switched to an export of its own
    last = out.strip().splitlines()[-1]
    assert last.startswith("reads=") and int(last.split()[0].split("=")[1]) > 10, out
    assert last.endswith("mixed=0"), out
    # the last export holds every period, the earlier ones carried over by hard links
    facts = pl.read_parquet(link / "fact_target_progress" / "**" / "*.parquet", hive_partitioning=True)
    assert facts.group_by("period_key").len().sort("period_key").rows() == [
        ("2021Q1", 54), ("2021Q2", 40), ("2021Q3", 30), ("2021Q4", 20)
    ]


def test_the_readme_parquet_example_reads_one_build(tmp_path: Path) -> None:
    """The README's Python example, run as written next to a built warehouse, reads v_progress and dim_report."""
    import re
    import shutil

    from tests.conftest import REPO, SEED

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (example,) = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "realpath" in block]
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw)
    assert run_build(raw, tmp_path / "warehouse" / "duban.duckdb", tmp_path / "home").returncode == 0
    check = example + "\nprint(progress.height, reports.height, progress['period_key'].unique().to_list())\n"
    out = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(maxsplit=2)[:2] == ["54", "1"] and "2021Q1" in out.stdout


def _exported(link: Path) -> dict[str, list[tuple]]:
    """Every table's and view's rows in an export (partition columns included), sorted, by name."""
    import duckdb

    version = Path(os.path.realpath(link))
    con = duckdb.connect()
    out = {}
    for entry in sorted(version.iterdir()):
        if entry.suffix == ".json":
            continue
        source = f"'{entry}/**/*.parquet'" if entry.is_dir() else f"'{entry}'"
        if entry.is_dir() and not any(entry.rglob("*.parquet")):
            out[entry.name] = []
            continue
        rows = con.execute(f"SELECT * FROM read_parquet({source}, hive_partitioning = true, union_by_name = true)").fetchall()
        out[entry.name.removesuffix(".parquet")] = sorted(rows, key=repr)
    return out


def test_a_quarter_added_later_exports_what_building_both_at_once_exports(tmp_path: Path) -> None:
    """The export of only the new quarter (the rest hard-linked from the previous export) equals a full one."""
    both, later = tmp_path / "both", tmp_path / "later"
    for folder in (both, later):
        (folder / "raw").mkdir(parents=True)
        _quarter(folder / "raw", "第一季度", "2021-Q1", 12)
    _quarter(both / "raw", "第二季度", "2021-Q2", 14)
    assert run_build(both / "raw", both / "w" / "duban.duckdb", both / "home").returncode == 0
    assert run_build(later / "raw", later / "w" / "duban.duckdb", later / "home").returncode == 0
    _quarter(later / "raw", "第二季度", "2021-Q2", 14)
    added = run_build(later / "raw", later / "w" / "duban.duckdb", later / "home")
    assert added.returncode == 0, added.stdout + added.stderr
    written = json.loads((Path(os.path.realpath(later / "w" / "parquet")) / "_export.json").read_text(encoding="utf-8"))
    assert written["periods_written"] == ["2021Q2"]  # the added quarter alone was queried
    full, incremental = _exported(both / "w" / "parquet"), _exported(later / "w" / "parquet")
    assert full.keys() == incremental.keys() and "v_progress" in full
    volatile = {"dim_report", "duban_meta"}  # load times differ between the two histories
    for name in sorted(set(full) - volatile):
        assert len(full[name]) == len(incremental[name]), name
        assert full[name] == incremental[name], name
