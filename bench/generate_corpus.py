"""Generate a benchmark corpus: publishers × years × 4 quarters of reports in the forms duban reads.

Most reports use the seed's doubled-up text layout with misaligned ghost rows; some are GB18030 CSV
with one record per row, .xlsx and .xls with merged title and leader cells, .docx tables and HTML pages. Texts have realistic lengths
(targets of 15–40 characters, progress of 60–300). The same publisher keeps its targets across the
quarters of a plan year, with new progress each quarter.

    python -m bench.generate_corpus OUT [--publishers 300] [--years 10] [--start-year 2015] [--jobs 2]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from tests.report_writers import (
    Record,
    sample_records,
    write_csv,
    write_docx,
    write_html,
    write_text,
    write_xls,
    write_xlsx,
)

CITIES = "菏泽 济宁 临沂 德州 聊城 滨州 东营 潍坊 烟台 威海 日照 泰安 淄博 枣庄 青岛 济南 莱芜 开封 洛阳 商丘".split()
QUARTER_WORDS = {1: "第一季度", 2: "上半年", 3: "前三季度", 4: "全年"}
LEADERS = ("曹升灵", "王忠想", "张新华", "李卫东")


def publisher_name(index: int) -> str:
    """A distinct publisher name such as 菏泽市人民政府 or 菏泽市人民政府(3)."""
    city = CITIES[index % len(CITIES)]
    return f"{city}市人民政府" if index < len(CITIES) else f"{city}市第{index // len(CITIES)}区人民政府"


def quarter_records(base: list[Record], quarter: int, rng: random.Random) -> list[Record]:
    """The plan's records as reported in one quarter: new progress, a few flags changed."""
    out = []
    for record in base:
        progress = f"第{quarter}季度：{record.progress_text}" + "，".join(
            rng.choice(["推进顺利", "已完成阶段任务", "正在组织实施", "持续跟进落实"]) for _ in range(rng.randint(1, 6))
        )
        flag = "否" if rng.random() < 0.07 else "是"
        out.append(replace(record, progress_text=progress, on_schedule=flag))
    return out


def write_publisher(args: tuple[Path, int, int, int]) -> int:
    """Every report of one publisher; returns how many files it wrote."""
    out, index, start_year, years = args
    publisher = publisher_name(index)
    folder = out / f"p{index:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for year in range(start_year, start_year + years):
        rng = random.Random(index * 10_000 + year)
        base = sample_records(n=54, start=1, leaders=LEADERS[: rng.randint(2, 4)], seed=index * 100 + year)
        for quarter in range(1, 5):
            records = quarter_records(base, quarter, rng)
            title = f"{publisher}{year}年经济社会发展责任目标{QUARTER_WORDS[quarter]}工作推进情况一览表"
            stem = folder / f"p{index:04d}-{year}-Q{quarter}"
            form = rng.random()
            if form < 0.80:
                # as in the seed: the left column ends in ghosts of the right column's first numbers
                count = rng.choice([0, 2, 4])
                left = (len(records) - count) // 2
                ghosts = [(left + k, str(left + 1 + k), records[left].leader_name) for k in range(count)]
                write_text(stem.with_suffix(".txt"), title, records, per_row=2, ghosts=ghosts,
                           column_sizes=(left, len(records) - left), crlf=rng.random() < 0.3)
            elif form < 0.88:
                write_csv(stem.with_suffix(".csv"), title, records, encoding="gb18030")
            elif form < 0.93:
                write_xlsx(stem.with_suffix(".xlsx"), title, records)
            elif form < 0.95:
                write_xls(stem.with_suffix(".xls"), title, records)
            elif form < 0.97:
                write_docx(stem.with_suffix(".docx"), title, records)
            else:
                write_html(stem.with_suffix(".html"), title, records)
            written += 1
    return written


def generate(out: Path, publishers: int, years: int, start_year: int = 2015, jobs: int = 2) -> int:
    """Write the corpus under out; returns the number of files."""
    out.mkdir(parents=True, exist_ok=True)
    tasks = [(out, i, start_year, years) for i in range(publishers)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return sum(pool.map(write_publisher, tasks, chunksize=4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--publishers", type=int, default=300)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--start-year", type=int, default=2015)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    count = generate(args.out, args.publishers, args.years, args.start_year, args.jobs)
    print(f"generated {count} files in {time.perf_counter() - started:.1f}s under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
