"""Write briefings to files (HTML, and PDF through headless Chromium) and summarise them in Markdown."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from pipelines.atomic import write_text_atomic
from pipelines.briefing.data import Briefing, briefing_keys, latest_keys_among, load_briefings, open_published
from pipelines.briefing.render import headline_sentence, pct, render_html
from pipelines.errors import DubanError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "apt-get install chromium fonts-noto-cjk"


def _safe(name: str) -> str:
    """A publisher or period as one folder/file name: no separators, no leading dot."""
    cleaned = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", name).strip().lstrip(".")
    return cleaned or "_"


def report_path(root: Path, publisher: str, period_key: str) -> Path:
    """warehouse/reports/<publisher>/<period>.html under root."""
    return root / _safe(publisher) / f"{_safe(period_key)}.html"


def find_chromium() -> str | None:
    override = os.environ.get("DUBAN_CHROMIUM")
    if override:
        return override if shutil.which(override) else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def print_pdf(html: Path, pdf: Path, chromium: str | None = None, timeout: int = 180) -> Path:
    """Print an HTML file to PDF (A4, from its print stylesheet) with the system's headless Chromium."""
    chromium = chromium or find_chromium()
    if not chromium:
        raise DubanError(f"--pdf needs Chromium, which is not installed; {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="duban-chromium-") as profile:
        tmp = pdf.with_name(f".{pdf.name}.tmp")
        proc = subprocess.run(
            [
                chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}",
                "--no-pdf-header-footer", f"--print-to-pdf={tmp}", html.resolve().as_uri(),
            ],
            capture_output=True, text=True, timeout=timeout,
        )
        if proc.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
            tmp.unlink(missing_ok=True)
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise DubanError(f"Chromium could not print {html} to PDF (exit {proc.returncode}: {last})")
        os.replace(tmp, pdf)
    return pdf


def markdown_summary(b: Briefing) -> str:
    """The headline and the behind list, for Dagster's materialization metadata."""
    s = b.summary
    parts = "；".join(f"{word}{count}项、占比{pct(share)}%" for _, word, count, share in headline_sentence(b))
    lines = [f"**{b.publisher} {b.period_key}**：列入本次督查通报的任务共{s['targets']}项。截至目前，{parts}。"]
    if s["previous_period_key"]:
        lines.append(
            f"与上期（{s['previous_period_key']}）相比，达到序时进度要求的任务变化{s['on_schedule_count_change']:+d}项，"
            f"占比变化{s['on_schedule_pct_change']:+.1f}个百分点。"
        )
    if b.behind:
        lines += ["", "| 序号 | 责任目标 | 分管市领导 | 牵头单位 | 进度 |", "|---|---|---|---|---|"]
        cell = lambda t: str(t or "").replace("|", "\\|").replace("\n", " ")[:60]
        lines += [
            f"| {r['target_no']} | {cell(r['target_text'])} | {cell(r['leader_name'])} | {cell(r['lead_department'])} | {cell(r['status_text'])} |"
            for r in b.behind
        ]
    else:
        lines.append("\n本期所有任务均达到序时进度。")
    return "\n".join(lines)


def write_briefings(
    warehouse,
    publisher: str | None = None,
    period: str | None = None,
    out: Path | None = None,
    pdf: bool = False,
    periods: list[str] | None = None,
) -> list[tuple[Briefing, Path]]:
    """Write one HTML page (and PDF) per publisher and period; returns what was written.

    Default: each publisher's latest period, into <warehouse folder>/reports/<publisher>/<period>.html.
    `out` ending in .html is the file for a single briefing; otherwise it is the folder to write under.
    `periods` (the Dagster asset's partitions) writes each publisher's briefing for its latest of those periods
    only: a first build of ten years writes one page per publisher, not forty (older ones: `duban report --period`).
    """
    from pipelines.targets import target_for

    warehouse = target_for(warehouse)
    if not warehouse.exists():
        raise DubanError(f"no warehouse at {warehouse}; run `duban build` first or pass --warehouse FILE")
    if pdf and not find_chromium():
        raise DubanError(f"--pdf needs Chromium, which is not installed; {INSTALL_HINT}")
    with open_published(warehouse) as con:
        if periods is not None:
            keys = latest_keys_among(con, periods)
        else:
            keys = briefing_keys(con, publisher, period)
        briefings = load_briefings(con, keys)
    single = out is not None and out.suffix.lower() in (".html", ".htm")
    if single and len(briefings) > 1:
        raise DubanError(f"--out {out} names one file but {len(briefings)} briefings are due; pass a folder or --publisher and --period")
    root = out if out is not None and not single else warehouse.output_dir / "reports"
    written = []
    for b in briefings:
        path = out if single else report_path(root, b.publisher, b.period_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, render_html(b))
        if pdf:
            print_pdf(path, path.with_suffix(".pdf"))
        written.append((b, path))
    return written
