"""The period parser: titles, file names and the refusal of a file that names no period."""

from datetime import date
from pathlib import Path

import pytest

from pipelines.errors import NoPeriodError
from pipelines.periods import Period, period_from_filename, period_from_title, publisher_from_title
from pipelines.reports import read_report

SEED_TITLE = "菏泽市人民政府2021年经济社会发展责任目标第一季度工作推进情况一览表"


@pytest.mark.parametrize(
    ("title", "key"),
    [
        (SEED_TITLE, "2021Q1"),
        ("菏泽市人民政府2021年一季度工作推进情况", "2021Q1"),
        ("某市2021年1—3月责任目标进展", "2021Q1"),
        ("某市2022年上半年责任目标进展", "2022Q2"),
        ("某市2022年1-6月责任目标进展", "2022Q2"),
        ("某市2021年第三季度责任目标", "2021Q3"),
        ("某市2021年前三季度责任目标", "2021Q3"),
        ("某市2021年1-9月责任目标", "2021Q3"),
        ("某市2021年全年责任目标完成情况", "2021Q4"),
        ("某市2021年第四季度责任目标", "2021Q4"),
        ("某市2021年1-11月份责任目标", "2021M11"),
    ],
)
def test_period_from_title(title: str, key: str) -> None:
    assert period_from_title(title).key == key


def test_title_without_period_gives_none() -> None:
    assert period_from_title("菏泽市人民政府责任目标一览表") is None
    assert period_from_title("第一季度工作推进情况") is None  # no year


@pytest.mark.parametrize(
    ("stem", "key"),
    [("heze-2021-Q1", "2021Q1"), ("heze_2020_q4", "2020Q4"), ("city-2021-M11", "2021M11"), ("report", None)],
)
def test_period_from_filename(stem: str, key: str | None) -> None:
    period = period_from_filename(stem)
    assert (period.key if period else None) == key


def test_publisher_from_title() -> None:
    assert publisher_from_title(SEED_TITLE) == "菏泽市人民政府"
    assert publisher_from_title("第一季度工作推进情况") is None


def test_period_dates_and_share() -> None:
    q1 = Period.from_key("2021Q1")
    assert (q1.start_date, q1.end_date, q1.year_elapsed_share, q1.quarter) == (
        date(2021, 1, 1),
        date(2021, 3, 31),
        0.25,
        1,
    )
    m11 = Period.from_key("2021M11")
    assert (m11.quarter, m11.end_date, m11.key) == (None, date(2021, 11, 30), "2021M11")
    with pytest.raises(ValueError, match="not a period key"):
        Period.from_key("2021-Q1")


def test_filename_is_the_fallback_for_the_period(tmp_path: Path, seed_text: str) -> None:
    untitled = seed_text.replace("# 菏泽市人民政府2021年经济社会发展责任目标第一季度工作推进情况一览表", "")
    path = tmp_path / "heze-2021-Q1.txt"
    path.write_text(untitled, encoding="utf-8")
    report = read_report(path, tmp_path)
    assert (report.period.key, report.publisher, report.title) == ("2021Q1", "heze", None)


def test_a_file_with_no_period_is_refused_by_name(tmp_path: Path, seed_text: str) -> None:
    path = tmp_path / "report.txt"
    path.write_text(seed_text.replace("2021年", "").replace("第一季度", ""), encoding="utf-8")
    with pytest.raises(NoPeriodError) as refused:
        read_report(path, tmp_path)
    message = str(refused.value)
    assert message.startswith(f"{path}: no reporting period found")
    assert "put the period in the title or the file name" in message
