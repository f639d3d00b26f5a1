"""What Dagster itself costs a `duban build`: its start-up and its bookkeeping per run and per period.

Builds corpora of 1 publisher × P periods (P = 1, 4, 16 by default, small reports) into empty
warehouses with `duban build --json` and reads the `timings` each run reports; prints a Markdown
table and the per-run and per-period costs from a least-squares line over P.

    python -m bench.dagster_cost [--periods 1 4 16] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.generate_corpus import generate

DUBAN = Path(sys.executable).with_name("duban")


def build_timings(periods: int, repeat: int) -> list[dict[str, float]]:
    """The timings of `repeat` builds of a 1-publisher corpus with `periods` quarters, each into an empty warehouse."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="duban-dagster-cost-") as tmp:
        raw = Path(tmp) / "raw"
        years = -(-periods // 4)
        generate(raw, publishers=1, years=years, jobs=1)
        for extra in sorted(raw.rglob("*.*"))[periods:]:  # keep exactly `periods` reports
            extra.unlink()
        for attempt in range(repeat):
            root = Path(tmp) / f"run{attempt}"
            proc = subprocess.run(
                [str(DUBAN), "build", "--json", "--raw", str(raw), "--warehouse", str(root / "duban.duckdb")],
                capture_output=True, text=True, cwd=tmp,
                env={**os.environ, "DAGSTER_HOME": str(root / "dagster")}, check=True,
            )
            runs.append(json.loads(proc.stdout)["timings"])
    return runs


def slope_and_intercept(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares line y = a·x + b; returns (a, b)."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    a = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return a, my - a * mx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("\n| periods | total s | Dagster start-up s | Dagster bookkeeping s | stages s |")
    print("|---:|---:|---:|---:|---:|")
    xs, startup, bookkeeping = [], [], []
    for periods in args.periods:
        runs = build_timings(periods, args.repeat)
        med = {key: statistics.median(run.get(key, 0.0) for run in runs) for key in runs[0]}
        stages = med["total"] - med["dagster start-up"] - med["dagster bookkeeping"] - med["start-up, planning and summary"]
        print(f"| {periods} | {med['total']:.2f} | {med['dagster start-up']:.2f} | {med['dagster bookkeeping']:.2f} | {stages:.2f} |")
        xs.append(periods)
        startup.append(med["dagster start-up"])
        bookkeeping.append(med["dagster bookkeeping"])
    if len(xs) > 1:
        per_period, per_run = slope_and_intercept(xs, bookkeeping)
        print(f"\nDagster bookkeeping ≈ {per_run:.2f} s per run + {per_period:.3f} s per period; "
              f"start-up (import, instance, job) median {statistics.median(startup):.2f} s per build")
    return 0


if __name__ == "__main__":
    sys.exit(main())
