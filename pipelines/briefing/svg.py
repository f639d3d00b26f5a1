"""Two small charts as inline SVG, built by hand: text stays text, in the reader's CJK fonts.

No plotting library: the briefing needs a bar chart and a line chart, and keeping labels as SVG text
(with a CJK font list) renders Chinese wherever a common CJK font is installed, prints crisply and is
searchable in the PDF. Every label is XML-escaped here.
"""

from __future__ import annotations

from html import escape

FONT_FAMILY = "'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'WenQuanYi Micro Hei', 'Microsoft YaHei', 'PingFang SC', sans-serif"
BAR = "#c0392b"
GOOD = "#2e7d32"
GRID = "#d0d0d0"
INK = "#222222"


def _svg(width: int, height: int, chart_id: str, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart_id)}" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'font-family="{escape(FONT_FAMILY)}" font-size="13">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{INK}"{extra}>{escape(text)}</text>'


def bar_chart(chart_id: str, title: str, items: list[tuple[str, float]], width: int = 680) -> str:
    """Horizontal bars, one per (label, percent 0-100), in the given order, value printed at the bar's end."""
    label_width, row, top = 190, 24, 28
    plot = width - label_width - 70
    height = top + row * max(len(items), 1) + 24
    body = [f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    for tick in (0, 25, 50, 75, 100):
        x = label_width + plot * tick / 100
        body.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 20}" stroke="{GRID}"/>')
        body.append(_text(x, top - 10, f"{tick}%", "middle", font_size="11"))
    for i, (label, pct) in enumerate(items):
        y = top + row * i
        w = plot * max(0.0, min(pct, 100.0)) / 100
        colour = GOOD if pct >= 100 else BAR
        shown = label if len(label) <= 14 else label[:13] + "…"
        body.append(_text(label_width - 8, y + 16, shown, "end", **{"class": "bar-label"}))
        body.append(
            f'<rect class="bar" x="{label_width}" y="{y + 4}" width="{max(w, 1.5):.1f}" height="{row - 8}" fill="{colour}">'
            f"<title>{escape(label)}: {pct:.1f}%</title></rect>"
        )
        body.append(_text(label_width + w + 6, y + 16, f"{pct:.1f}%", **{"class": "bar-value"}))
    if not items:
        body.append(_text(width / 2, top + 16, "无数据", "middle"))
    return _svg(width, height, chart_id, title, body)


def line_chart(chart_id: str, title: str, points: list[tuple[str, float]], width: int = 680, height: int = 260) -> str:
    """A line over the periods (label, percent 0-100), with a point and its value at each period."""
    left, right, top, bottom = 56, 30, 20, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    body = [f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    for tick in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - tick / 100)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 8, y + 4, f"{tick}%", "end", font_size="11"))
    n = len(points)
    xy = []
    for i, (label, pct) in enumerate(points):
        x = left + (plot_w * (i + 0.5) / n if n else 0)
        y = top + plot_h * (1 - max(0.0, min(pct, 100.0)) / 100)
        xy.append((x, y))
        body.append(_text(x, height - bottom + 20, label, "middle", **{"class": "point-label"}))
    if len(xy) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        body.append(f'<polyline points="{path}" fill="none" stroke="{GOOD}" stroke-width="3"/>')
    for (x, y), (label, pct) in zip(xy, points):
        body.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{GOOD}"><title>{escape(label)}: {pct:.1f}%</title></circle>')
        body.append(_text(x, y - 10, f"{pct:.1f}%", "middle", **{"class": "point-value"}))
    if not points:
        body.append(_text(width / 2, height / 2, "无数据", "middle"))
    return _svg(width, height, chart_id, title, body)
