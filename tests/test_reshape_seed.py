"""The reshaper on the real seed report: exact counts, realigned targets, departments, deadlines."""

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines.process import process_report
from pipelines.reports import read_report
from pipelines.reshape import reshape_grid
from tests.conftest import SEED

REALIGNED = {
    103: (31, "王忠想", "贯通青年湖、双月湖、万福河、洙水河等“五湖十河”水系", "11月底",
          "已全面调查所有障碍，完成部分拆迁清障，220 边沟、华安路边沟等部分沟渠开始进场施工", "是",
          ["市住房城乡建设局", "市水务局"]),
    104: (32, "王忠想", "完善农村社区功能，按照“20 有”的标准抓好基础设施配套", "年底",
          "完成各县区新建农村社区摸底；广泛征求“20 有”项目意见建议，制定建设标准内容。指导各县区将“20 有”设施纳入社区建设规划",
          "是", ["市住房城乡建设局", "市自然资源和规划局"]),
    105: (33, "王忠想", "强化大气污染联防联控，严格落实扬尘治理“7 个 100%”和“5 个 100%”工作要求", "年底",
          "持续开展昼夜督导检查，累计查处扬尘污染违法行 13 起，共处罚款 24 万元，下达责令整改通知书 15 份。"
          "利用远程监控平台，对全市 400 处施工工地、135 处混凝土搅拌站实行在线监管，建立线上排查问题台账 1633 项，"
          "已全部推送至县区，并完成整改", "是", ["市住房城乡建设局"]),
    106: (34, "王忠想", "实施城市增绿工程", "年底", "已完成排查，列出增绿工程计划", "是", ["市城管局"]),
}


@pytest.fixture(scope="module")
def processed():
    return process_report(read_report(SEED, SEED.parent))


def test_seed_identity() -> None:
    report = read_report(SEED, SEED.parent)
    assert (report.publisher, report.period.key, report.encoding) == ("菏泽市人民政府", "2021Q1", "utf-8")
    assert report.title == "菏泽市人民政府2021年经济社会发展责任目标第一季度工作推进情况一览表"


def test_seed_counts(processed) -> None:
    assert (processed.records_read, processed.accepted.height, processed.quarantine.height) == (58, 54, 4)
    assert sorted(processed.accepted["target_no"].to_list()) == list(range(53, 107))
    # lines 1-5: two blank lines, the title, a blank line and the header
    assert processed.skipped_lines == 5


def test_header_and_blocks() -> None:
    report = read_report(SEED, SEED.parent)
    layout = reshape_grid(report.grid, SEED).layout
    assert (layout.header_line, layout.block_starts, layout.width) == (5, (0, 7), 7)


@pytest.mark.parametrize("target_no", sorted(REALIGNED))
def test_realigned_targets_field_by_field(processed, target_no: int) -> None:
    row = processed.accepted.filter(pl.col("target_no") == target_no).row(0, named=True)
    line, leader, text, deadline, progress, flag, departments = REALIGNED[target_no]
    assert row["source_line"] == line
    assert row["leader_name"] == leader
    assert row["target_text"] == text
    assert row["deadline_text"] == deadline
    assert row["progress_text"] == progress
    assert row["on_schedule_text"] == flag and row["on_schedule"] is True
    assert row["departments"] == departments
    assert row["lead_department"] == departments[0]
    assert row["block"] == 1  # the right-hand half of the printed page


def test_ghosts_are_quarantined_not_merged(processed) -> None:
    q = processed.quarantine.sort("source_line")
    assert q["source_line"].to_list() == [31, 32, 33, 34]
    assert q["target_no_text"].to_list() == ["78", "79", "80", "81"]
    assert all(r.startswith("ghost record") for r in q["reason"])
    assert q["raw_cells"].to_list() == [[str(n), "曹升灵"] for n in (78, 79, 80, 81)]
    # the real targets 78-81 (right half of lines 6-9) are kept with their own content
    real = processed.accepted.filter(pl.col("target_no").is_between(78, 81)).sort("target_no")
    assert real["source_line"].to_list() == [6, 7, 8, 9]
    assert real["departments"][0].to_list() == ["市生态环境局", "市水务局"]


def test_leaders_departments_and_deadlines(processed) -> None:
    accepted = processed.accepted
    counts = dict(accepted.group_by("leader_name").len().iter_rows())
    assert counts == {"曹升灵": 33, "王忠想": 21}
    t59 = accepted.filter(pl.col("target_no") == 59).row(0, named=True)
    assert t59["departments"] == ["市科技局", "市发展改革委", "市工业和信息化局"]
    assert t59["lead_department"] == "市科技局"
    dates = dict(accepted.select("target_no", "deadline_date").iter_rows())
    assert dates[76] == date(2021, 6, 30)
    assert dates[103] == date(2021, 11, 30)
    assert dates[96] == date(2021, 11, 30)
    assert dates[53] == date(2021, 12, 31)
    assert accepted["on_schedule"].to_list() == [True] * 54


def test_cells_are_trimmed_but_text_kept(processed) -> None:
    t102 = processed.accepted.filter(pl.col("target_no") == 102).row(0, named=True)
    assert t102["target_text"] == "提升改造老旧小区 58 个、2.25 万户"
    assert t102["progress_text"].startswith("54 个小区完成立项")


def test_crlf_and_bom_read_the_same(tmp_path: Path, processed) -> None:
    variant = tmp_path / "heze-2021-Q1.txt"
    variant.write_bytes(b"\xef\xbb\xbf" + SEED.read_bytes().replace(b"\n", b"\r\n"))
    again = process_report(read_report(variant, tmp_path))
    assert again.report.encoding == "utf-8-sig"
    columns = ["source_line", "target_no", "leader_name", "target_text", "progress_text", "departments"]
    assert again.accepted.select(columns).equals(processed.accepted.select(columns))
    assert again.quarantine.height == 4
