"""Render a Briefing as one self-contained HTML page (Jinja2 with autoescape: report text stays text)."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cache

import jinja2
from markupsafe import Markup

from pipelines.briefing.data import Briefing
from pipelines.briefing.svg import FONT_FAMILY, bar_chart, line_chart
from pipelines.printable import printable
from schemas import schema_file

# progress_status → the wording of a 督查通报, in the order the headline prints them
STATUS_WORDS = [
    ("completed", "已完成"),
    ("ahead", "超序时进度"),
    ("at_schedule", "达到序时进度"),
    ("behind", "未达到序时进度"),
    ("other", "其它"),
]
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def pct(value) -> str:
    """A percentage from a view (already rounded to one decimal) with one decimal."""
    return "—" if value is None else f"{value:.1f}"


@cache
def _environment() -> jinja2.Environment:
    """One Jinja environment per process, so the template is compiled once for all pages."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: schema_file(name)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = pct
    env.filters["printable"] = printable
    return env


def headline_sentence(b: Briefing) -> list[tuple[str, str, int, float]]:
    """(field, wording, count, percent) printed in the headline: every status with targets, and always 达到/未达到."""
    s = b.summary
    return [
        (field, word, s[field], s[f"{field}_pct"])
        for field, word in STATUS_WORDS
        if s[field] or field in ("at_schedule", "behind")
    ]


def render_html(b: Briefing, generated_at: datetime | None = None) -> str:
    """The page: headline, behind list, changes, stale, overdue, departments and trend charts, data quality."""
    departments_chart = bar_chart(
        "chart-departments",
        f"{b.publisher} {b.period_key} 各牵头单位达到序时进度占比（由低到高）",
        [(d["department_name"], 100.0 * (d["share_on_schedule"] or 0.0)) for d in b.departments],
    )
    trend_chart = line_chart(
        "chart-trend",
        f"{b.publisher} {b.summary['year']}年各期达到序时进度占比",
        [(t["period_key"], t["on_schedule_pct"]) for t in b.trend],
    )
    return _environment().get_template("briefing.html.j2").render(
        b=b,
        s=b.summary,
        statuses=STATUS_WORDS,
        headline=headline_sentence(b),
        departments_chart=Markup(departments_chart),  # built with every label escaped (svg.py)
        trend_chart=Markup(trend_chart),
        font_family=FONT_FAMILY,
        csp=CSP,
        generated_at=(generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC"),
    )
