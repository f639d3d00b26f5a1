"""The quarterly briefing (`duban report`): every number on the page is the views', report text stays text,
and the page renders in real headless Chromium (charts drawn, Chinese glyphs, no network, a PDF with the headline)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import duckdb
import lxml.html
import pytest

from pipelines.briefing.svg import bar_chart, line_chart
from tests.briefing_browser import chromium_run, ensure_browser, non_white_pixels, screenshot
from tests.conftest import DUBAN, REPO, run_build
from tests.history_fixture import PUBLISHER, seed_records
from tests.report_writers import write_text

PERIODS = ["2021Q1", "2021Q2", "2021Q3", "2021Q4"]
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'


def duban_report(warehouse: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(DUBAN), "report", "--warehouse", str(warehouse), *args],
        capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})},
    )


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[tuple]:
    return con.execute(sql, params).fetchall()


def pct(value) -> str:
    return f"{value:.1f}"


@pytest.fixture(scope="module")
def pages(history, tmp_path_factory) -> dict[str, Path]:
    """The four quarters' briefings, written by real `duban report` processes from the history warehouse."""
    run, _ = history
    out = tmp_path_factory.mktemp("briefings")
    written = {}
    for period in PERIODS:
        proc = duban_report(run.warehouse, "--period", period, "--out", str(out))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        written[period] = out / PUBLISHER / f"{period}.html"
        assert f"{PUBLISHER} {period}: {written[period]}" in proc.stdout
    return written


@pytest.fixture(scope="module")
def con(history):
    run, _ = history
    with duckdb.connect(str(run.warehouse), read_only=True) as connection:
        yield connection


def fields(tree, scope: str) -> dict[str, str]:
    return {e.get("data-field"): e.text_content() for e in tree.xpath(f"//*[@id='{scope}']//*[@data-field]")}


def target_nos(tree, table_id: str) -> list[int]:
    return [int(tr.get("data-target-no")) for tr in tree.xpath(f"//table[@id='{table_id}']//tr[@data-target-no]")]


@pytest.mark.parametrize("period", PERIODS)
def test_every_number_on_the_page_is_the_views(pages, con, period) -> None:
    tree = lxml.html.parse(str(pages[period])).getroot()
    key = [PUBLISHER, period]
    cursor = con.execute("SELECT * FROM v_period_summary WHERE publisher = ? AND period_key = ?", key)
    s = dict(zip([d[0] for d in cursor.description], cursor.fetchone()))

    # 1. headline: the sentence and the status table
    head = fields(tree, "headline-text")
    assert head["targets"] == str(s["targets"])
    for status in ("at_schedule", "behind"):  # always printed
        assert head[status] == str(s[status]) and head[f"{status}_pct"] == pct(s[f"{status}_pct"])
    for status in ("completed", "ahead", "other"):  # printed when there are any
        assert head.get(status) == (str(s[status]) if s[status] else None)
    assert head["on_schedule_count"] == str(s["on_schedule_count"]) and head["on_schedule_pct"] == pct(s["on_schedule_pct"])
    text = tree.get_element_by_id("headline-text").text_content()
    assert text.startswith(f"列入本次督查通报的任务共{s['targets']}项。截至目前，")
    assert f"达到序时进度{s['at_schedule']}项、占比{pct(s['at_schedule_pct'])}%" in text
    assert f"未达到序时进度{s['behind']}项、占比{pct(s['behind_pct'])}%" in text
    table = {tr.get("data-status"): (tr.find_class("count")[0].text, tr.find_class("pct")[0].text)
             for tr in tree.xpath("//table[@id='status-table']//tr[@data-status]")}
    for status in ("completed", "ahead", "at_schedule", "behind", "other"):
        assert table[status] == (str(s[status]), pct(s[f"{status}_pct"]))
    assert table["on_schedule_total"] == (str(s["on_schedule_count"]), pct(s["on_schedule_pct"]))
    change = fields(tree, "change")
    if period == "2021Q1":
        assert s["previous_period_key"] is None and change == {}
    else:
        assert change["previous_period_key"] == s["previous_period_key"] == PERIODS[PERIODS.index(period) - 1]
        assert change["on_schedule_pct_change"] == f"{s['on_schedule_pct_change']:+.1f}"
        assert change["behind_change"] == f"{s['behind_change']:+d}"
        assert change["previous_on_schedule_pct"] == pct(s["previous_on_schedule_pct"])
        assert abs(int(change["on_schedule_count_change"])) == abs(s["on_schedule_count_change"])

    # 2. behind: every target not on schedule, grouped by leader, with its printed fields
    behind = rows(con, """SELECT target_no, leader_name, target_text, lead_department, deadline_text, progress_text, status_text
                          FROM v_progress WHERE publisher = ? AND period_key = ? AND on_schedule IS NOT TRUE""", key)
    shown = [(int(tr.get("data-target-no")), tr.get("data-leader"), *(tr.find_class(c)[0].text_content() for c in
              ("text", "dept", "deadline", "progress", "status")))
             for tr in tree.xpath("//table[@id='behind-table']//tr[@data-target-no]")]
    assert sorted(shown) == sorted(tuple(v or "" for v in r) for r in behind)
    leaders = [row[1] for row in shown]
    assert leaders == sorted(leaders, key=leaders.index)  # each leader's targets together
    assert fields(tree, "behind")["behind_total"] == str(len(behind))

    # 3. changes since the previous period
    for table_id, change_word in (("slipped", "slipped"), ("caught-up", "caught up")):
        assert target_nos(tree, table_id) == [n for (n,) in rows(
            con, "SELECT target_no FROM v_schedule_changes WHERE publisher = ? AND period_key = ? AND change = ? ORDER BY 1",
            [*key, change_word])]
    assert target_nos(tree, "text-changed") == [n for (n,) in rows(
        con, "SELECT target_no FROM v_target_changes WHERE publisher = ? AND valid_from_period = ? ORDER BY 1", key)]
    # 4. stale and 5. overdue
    assert target_nos(tree, "stale") == [n for (n,) in rows(
        con, "SELECT target_no FROM v_stale_progress WHERE publisher = ? AND period_key = ? ORDER BY 1", key)]
    assert sorted(target_nos(tree, "overdue")) == sorted(n for (n,) in rows(
        con, """SELECT target_no FROM v_progress v JOIN dim_period p USING (period_key)
                WHERE publisher = ? AND period_key = ? AND deadline_date < p.end_date AND progress_status <> 'completed'""", key))

    # 6. departments, worst first, and the trend over the year
    departments = rows(con, """SELECT department_name, targets_led, led_on_schedule, share_on_schedule FROM v_department_scorecard
                               WHERE publisher = ? AND period_key = ? AND targets_led > 0""", key)
    shown = [tuple(td.text_content() for td in tr.xpath("td")) for tr in tree.xpath("//table[@id='department-table']//tr[@class='department']")]
    assert sorted(shown) == sorted((d, str(n), str(o), f"{100 * share:.1f}") for d, n, o, share in departments)
    shares = [float(row[3]) for row in shown]
    assert shares == sorted(shares)
    assert len(tree.xpath("//*[@id='chart-departments']//*[local-name()='rect'][@class='bar']")) == len(departments)
    assert [t.text for t in tree.xpath("//*[@id='chart-departments']//*[@class='bar-value']")] == [f"{x:.1f}%" for x in shares]
    trend = rows(con, """SELECT period_key, targets, on_schedule_count, on_schedule_pct FROM v_period_summary
                         WHERE publisher = ? AND year = 2021 AND period_end <= ? ORDER BY period_end""", [PUBLISHER, s["period_end"]])
    assert [tuple(td.text_content() for td in tr.xpath("td")) for tr in tree.xpath("//table[@id='trend-table']//tr[@data-period]")] == [
        (k, str(t), str(o), pct(p)) for k, t, o, p in trend]
    assert len(trend) == PERIODS.index(period) + 1
    assert [t.text for t in tree.xpath("//*[@id='chart-trend']//*[@class='point-label']")] == [k for k, *_ in trend]

    # 7. data quality
    quality = rows(con, """SELECT files_loaded, files_superseded, files_failed, records_read, accepted, quarantined
                           FROM v_report_quality WHERE publisher = ? AND period_key = ?""", key)[0]
    q = fields(tree, "quality-text")
    assert [q[f] for f in ("files_loaded", "files_superseded", "files_failed", "records_read", "accepted", "quarantined")] == [str(v) for v in quality]
    reasons = rows(con, "SELECT reason, records FROM v_quarantine_reasons WHERE publisher = ? AND period_key = ?", key)
    assert sorted((tr.find_class("reason-text")[0].text_content(), int(tr.find_class("records")[0].text)) for tr in
                  tree.xpath("//table[@id='quarantine-reasons']//tr[@class='reason']")) == sorted(reasons)
    assert quality[3] == quality[4] + quality[5]


def test_the_fixture_changes_show_where_they_happened(pages) -> None:
    """The history fixture's known events land in the right sections (guards the queries above from agreeing on nothing)."""
    tree = {p: lxml.html.parse(str(path)).getroot() for p, path in pages.items()}
    assert target_nos(tree["2021Q2"], "slipped") == [60] and 60 in target_nos(tree["2021Q2"], "behind-table")
    assert 61 in target_nos(tree["2021Q2"], "stale")
    assert target_nos(tree["2021Q3"], "caught-up") == [60] and target_nos(tree["2021Q3"], "slipped") == [62]
    assert target_nos(tree["2021Q3"], "text-changed") == [106]
    assert 70 in target_nos(tree["2021Q3"], "stale")
    assert target_nos(tree["2021Q4"], "slipped") == [76] and 76 in target_nos(tree["2021Q4"], "overdue")
    assert fields(tree["2021Q2"], "quality-text")["quarantined"] == "2"  # the two ghosts


def test_the_build_asset_wrote_the_latest_periods_briefing_only(history) -> None:
    """briefing_reports ran in the build, which loaded four periods at once: the page of the latest one beside
    the warehouse, and none for the three older periods (a first build of years writes one page per publisher)."""
    run, _ = history
    reports = run.warehouse.parent / "reports"
    assert sorted(p.relative_to(reports).as_posix() for p in reports.rglob("*.html")) == [f"{PUBLISHER}/2021Q4.html"]
    text = lxml.html.fromstring((reports / PUBLISHER / "2021Q4.html").read_text(encoding="utf-8")).text_content()
    assert "列入本次督查通报的任务共54项" in re.sub(r"\s+", "", text)


def test_one_batch_of_briefings_equals_each_briefing_read_alone(history) -> None:
    """load_briefings reads every section for many briefings in one query each; each equals its own load_briefing."""
    from pipelines.briefing.data import latest_keys_among, load_briefing, load_briefings

    run, _ = history
    with duckdb.connect(str(run.warehouse), read_only=True) as connection:
        assert latest_keys_among(connection, PERIODS[:2]) == [(PUBLISHER, "2021Q2")]
        keys = [(PUBLISHER, p) for p in reversed(PERIODS)]
        batch = load_briefings(connection, keys)
        alone = [load_briefing(connection, *key) for key in keys]
        with pytest.raises(LookupError, match="no facts for nobody in 2021Q1"):
            load_briefings(connection, [(PUBLISHER, "2021Q1"), ("nobody", "2021Q1")])
    assert [(b.publisher, b.period_key) for b in batch] == keys
    assert batch == alone
    assert [len(b.behind) for b in batch] != [0, 0, 0, 0] and batch[0].slipped and batch[0].trend


def test_default_is_each_publishers_latest_period(history, tmp_path) -> None:
    run, _ = history
    proc = duban_report(run.warehouse, "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.html")] == [f"{PUBLISHER}/2021Q4.html"]


def test_pdf_without_chromium_fails_with_one_line(history, tmp_path) -> None:
    run, _ = history
    proc = duban_report(run.warehouse, "--out", str(tmp_path), "--pdf", env={"DUBAN_CHROMIUM": "no-such-chromium"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "duban report: --pdf needs Chromium, which is not installed; apt-get install chromium fonts-noto-cjk"]
    assert not list(tmp_path.rglob("*.html"))


def test_chart_labels_are_escaped() -> None:
    svg = bar_chart("c", "t<", [(SCRIPT, 50.0), (IMG, 100.0)]) + line_chart("l", "t", [(SCRIPT, 10.0)])
    tree = lxml.html.fromstring(f"<div>{svg}</div>")
    assert not tree.xpath("//script") and not tree.xpath("//img")
    assert SCRIPT in tree.text_content()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """A warehouse whose report holds markup in a target text, a progress text and a leader name, behind schedule."""
    root = tmp_path_factory.mktemp("hostile")
    raw = root / "raw"
    raw.mkdir()
    records = seed_records()
    records[0] = replace(records[0], target_text=SCRIPT, on_schedule="否")
    records[1] = replace(records[1], progress_text=IMG, on_schedule="否")
    records[2] = replace(records[2], on_schedule="基本达到")  # progress_status other: listed with the behind
    write_text(raw / "heze-2021-Q1.txt", f"{PUBLISHER}2021年经济社会发展责任目标第一季度工作推进情况一览表", records)
    run = run_build(raw, root / "duban.duckdb", root / "home")
    assert run.returncode == 0, run.stdout + run.stderr
    proc = duban_report(run.warehouse, "--out", str(root / "page.html"))
    assert proc.returncode == 0, proc.stderr
    return root / "page.html"


def test_report_text_with_markup_renders_as_text(hostile) -> None:
    tree = lxml.html.parse(str(hostile)).getroot()
    assert tree.xpath("//script") == [] and tree.xpath("//img") == []
    cells = [td.text_content() for td in tree.xpath("//table[@id='behind-table']//td")]
    assert SCRIPT in cells and IMG in cells
    head = fields(tree, "headline-text")
    assert (head["behind"], head["other"], head["other_pct"]) == ("2", "1", "1.9")
    assert "其它1项、占比1.9%" in tree.get_element_by_id("headline-text").text_content()
    assert "基本达到" in cells and fields(tree, "behind") == {"behind_total": "3", "behind_other": "1"}


@pytest.fixture(scope="module")
def chromium() -> str:
    found, reason = ensure_browser()
    if not found:
        print(f"skipping the browser tests: {reason}")
        pytest.skip(reason)
    return found


def console_problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line or "Refused to" in line or "Content Security Policy" in line or "net::ERR" in line]


def test_hostile_markup_stays_text_in_the_browser(chromium, hostile) -> None:
    proc = chromium_run(chromium, hostile.resolve().as_uri(), "--dump-dom")
    dom = lxml.html.fromstring(proc.stdout)
    assert dom.xpath("//script") == [] and dom.xpath("//img") == []
    assert SCRIPT in dom.text_content() and IMG in dom.text_content()
    assert console_problems(proc.stderr) == []


def test_the_console_check_sees_a_blocked_request(chromium, tmp_path) -> None:
    """Control: a page with the same CSP that tries the network is reported, so silence above means something."""
    page = tmp_path / "control.html"
    page.write_text("""<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
        </head><body><img src="http://example.invalid/x.png"></body></html>""", encoding="utf-8")
    proc = chromium_run(chromium, page.resolve().as_uri(), "--dump-dom")
    assert console_problems(proc.stderr), proc.stderr[-2000:]


def _part(page: Path, element_id: str, out: Path) -> Path:
    """A page holding only one element of the briefing, with the briefing's head (styles, CSP)."""
    tree = lxml.html.parse(str(page)).getroot()
    head = lxml.html.tostring(tree.find("head"), encoding="unicode")
    element = lxml.html.tostring(tree.get_element_by_id(element_id), encoding="unicode")
    out.write_text(f"<!DOCTYPE html><html lang='zh-CN'>{head}<body>{element}</body></html>", encoding="utf-8")
    return out


def test_the_page_renders_in_chromium(chromium, pages, tmp_path) -> None:
    page = pages["2021Q4"]
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html) and "@import" not in html and "url(" not in html
    proc = chromium_run(chromium, page.resolve().as_uri(), "--dump-dom")
    assert console_problems(proc.stderr) == [], proc.stderr[-2000:]
    assert "列入本次督查通报的任务共" in lxml.html.fromstring(proc.stdout).get_element_by_id("headline-text").text_content()
    shot = tmp_path / "page.png"
    proc = screenshot(chromium, page, shot, 1000, 1400)
    assert console_problems(proc.stderr) == []
    if os.environ.get("DUBAN_UPDATE_DOCS"):
        shutil.copy(shot, REPO / "docs" / "briefing.png")
    for element_id, width, height, at_least in (("headline", 1000, 420, 2000), ("chart-departments", 760, 900, 5000),
                                                ("chart-trend", 760, 320, 3000)):
        part = _part(page, element_id, tmp_path / f"{element_id}.html")
        png = tmp_path / f"{element_id}.png"
        screenshot(chromium, part, png, width, height)
        assert non_white_pixels(png) >= at_least, element_id
        if os.environ.get("DUBAN_UPDATE_DOCS") and element_id == "chart-trend":
            shutil.copy(png, REPO / "docs" / "briefing-trend.png")


def test_chinese_glyphs_render_not_tofu(chromium, tmp_path) -> None:
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    assert fonts.strip(), "no CJK font: apt-get install fonts-noto-cjk"
    shots = {}
    for name, text in (("cjk", "督查通报达到序时进度"), ("tofu", "\U000f0000" * 10)):  # private-use: no font has it
        page = tmp_path / f"{name}.html"
        page.write_text(f"<!DOCTYPE html><html><body style=\"font-family: 'Noto Sans CJK SC', 'Noto Sans SC', "
                        f"'Source Han Sans SC', 'WenQuanYi Micro Hei', sans-serif; font-size: 40px\">{text}</body></html>",
                        encoding="utf-8")
        png = tmp_path / f"{name}.png"
        screenshot(chromium, page, png, 600, 120)
        shots[name] = png.read_bytes()
    assert shots["cjk"] != shots["tofu"]
    assert non_white_pixels(tmp_path / "cjk.png") > 1500


def test_the_pdf_holds_the_headline(chromium, history, tmp_path) -> None:
    run, _ = history
    proc = duban_report(run.warehouse, "--period", "2021Q4", "--out", str(tmp_path / "b.html"), "--pdf")
    assert proc.returncode == 0, proc.stderr
    text = subprocess.run(["pdftotext", str(tmp_path / "b.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    (targets,) = run.query("SELECT targets FROM v_period_summary WHERE period_key = '2021Q4'")[0]
    assert f"列入本次督查通报的任务共{targets}项" in re.sub(r"\s+", "", text)


def test_the_asset_shows_the_headline_and_behind_list_in_its_metadata(history) -> None:
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    run, _ = history
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(run.home))) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("briefing_reports"))
    metadata = event.asset_materialization.metadata
    summary = metadata["summary"].value
    assert f"**{PUBLISHER} 2021Q4**：列入本次督查通报的任务共54项。" in summary  # one run built all four periods
    assert "| 76 |" in summary and "| 62 |" in summary  # the behind list
    assert set(metadata["pages"].value) == {f"{PUBLISHER} 2021Q4"}  # the latest of the run's periods only
