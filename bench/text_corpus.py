"""The marginal build time of a text corpus against its polars read floor: `duban build` of N text reports
into an empty warehouse, less the build of one of them (the fixed cost of a run), over the time polars
takes to read the same N files with no reshaping.

    python -m bench.text_corpus [--corpus DIR] [--reports 2000] [--work DIR]

The reports are the first N `.txt` files (by path) of a corpus bench/generate_corpus.py wrote, copied
with their folders, so every publisher's quarters come in order.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from bench.run_benchmark import machine, polars_floor, run_duban_build


def copy_text_reports(corpus: Path, out: Path, count: int) -> list[Path]:
    """Copy the first count .txt files of corpus (by path) under out, keeping their folders; returns the copies."""
    chosen = sorted(corpus.rglob("*.txt"))[:count]
    if len(chosen) < count:
        raise SystemExit(f"{corpus} holds {len(chosen)} text reports, fewer than {count}")
    shutil.rmtree(out, ignore_errors=True)
    copies = []
    for path in chosen:
        target = out / path.relative_to(corpus)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copies.append(target)
    return copies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/duban-bench/corpus-300x10"))
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/duban-text-bench"))
    args = parser.parse_args(argv)
    files = copy_text_reports(args.corpus, args.work / "raw", args.reports)
    one = args.work / "one"
    shutil.rmtree(one, ignore_errors=True)
    (one / "raw").mkdir(parents=True)
    shutil.copy2(files[0], one / "raw")
    for name in ("w", "home"):
        shutil.rmtree(args.work / name, ignore_errors=True)
    build_s, _, document = run_duban_build(args.work / "raw", args.work / "w" / "duban.duckdb", args.work / "home")
    fixed_s, _, _ = run_duban_build(one / "raw", one / "w" / "duban.duckdb", one / "home")
    floor_s = polars_floor(files)
    marginal = build_s - fixed_s
    print(f"machine: {machine()}")
    print(f"{len(files)} text reports, {sum(p.stat().st_size for p in files) / 2**20:.0f} MiB, "
          f"{document['totals']['records_read']:,} records read")
    print(f"build {build_s:.2f} s, one report {fixed_s:.2f} s, marginal {marginal:.2f} s")
    print(f"polars floor {floor_s:.2f} s; marginal / floor {marginal / floor_s:.1f}× (target ≤ 5×)")
    for name, seconds in document["timings"].items():
        print(f"  {name:<34} {seconds:7.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
