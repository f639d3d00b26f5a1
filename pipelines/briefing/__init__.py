"""The quarterly briefing (督查通报): one self-contained HTML page (and a PDF) per publisher and period.

Every number comes from the warehouse's views (v_period_summary, v_progress, v_schedule_changes, …),
which BI tools can query too. Charts are inline SVG, rendered here; nothing is fetched at view time.
"""

from pipelines.briefing.data import Briefing, briefing_keys, latest_keys_among, load_briefing, load_briefings
from pipelines.briefing.render import render_html
from pipelines.briefing.write import markdown_summary, report_path, write_briefings

__all__ = [
    "Briefing",
    "briefing_keys",
    "latest_keys_among",
    "load_briefing",
    "load_briefings",
    "render_html",
    "markdown_summary",
    "report_path",
    "write_briefings",
]
