"""Property: the reshaper reads back any 1-, 2- or 3-up report exactly, ghosts or not.

Random records are rendered side by side under a repeated header, with ghost records (a number and
a leader, then 0-5 empty cells, shifting the rest of the line left) dropped in at random block slots.
Every real record must come back field by field on the line it was printed on; every ghost must be
quarantined as a ghost; nothing may be lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.read_text import text_to_grid
from pipelines.reshape import reshape_grid

TITLE = "# 测试市人民政府2021年责任目标第一季度工作推进情况一览表"
HEADER = ["序号", "市政府领导", "责任目标内容", "完成时限", "完成情况", "是否完成计划进度", "责任单位"]
WIDTH = len(HEADER)
FIRST_DATA_LINE = 4  # title, blank line, header, then data

LEADERS = ["张三丰", "李四", "王五", "赵六", "曹升灵", "王忠想", "欧阳修文"]
DEPARTMENTS = ["市科技局", "市水务局", "市城管局", "市生态环境局", "市住房城乡建设局", "市发展改革委", "市工业和信息化局"]
WORDS = [
    "实施", "城市", "增绿工程", "完成", "排查", "老旧小区", "改造", "万户", "全面", "推进",
    "“五湖十河”", "“20 有”", "水系", "扬尘治理", "工作要求", "累计", "查处", "违法行为",
    "已", "启动", "建设", "项目", "个", "处", "亿元", "同比增长",
]
PUNCTUATION = ["，", "、", "；", "。", "%", "“", "”"]


@dataclass(frozen=True)
class Record:
    """One real record, as its seven cells are printed."""

    target_no: int
    leader_name: str
    target_text: str
    deadline_text: str
    progress_text: str
    on_schedule_text: str
    departments_text: str

    def cells(self) -> list[str]:
        return [
            str(self.target_no),
            self.leader_name,
            self.target_text,
            self.deadline_text,
            self.progress_text,
            self.on_schedule_text,
            self.departments_text,
        ]

    def fields(self) -> tuple[str, ...]:
        return tuple(self.cells())


@dataclass(frozen=True)
class Ghost:
    """A leftover record: a number and a leader, then `empties` empty cells (0-5: always short)."""

    target_no: int
    leader_name: str
    empties: int

    def cells(self) -> list[str]:
        return [str(self.target_no), self.leader_name] + [""] * self.empties


@st.composite
def cjk_text(draw: st.DrawFn) -> str:
    """Non-empty report prose: starts with a CJK word, may hold numbers, inner spaces and punctuation."""
    tokens = [draw(st.sampled_from(WORDS))]
    for _ in range(draw(st.integers(0, 6))):
        token = draw(
            st.one_of(
                st.sampled_from(WORDS),
                st.sampled_from(PUNCTUATION),
                st.integers(0, 2000).map(str),
                st.decimals(0, 100, places=1).map(lambda d: f"{d}%"),
            )
        )
        tokens.append(draw(st.sampled_from(["", " "])) + token)
    return "".join(tokens).strip()


deadlines = st.one_of(
    st.just("年底"),
    st.integers(1, 12).map(lambda m: f"{m}月底"),
    st.tuples(st.integers(1, 12), st.integers(1, 28)).map(lambda md: f"{md[0]}月{md[1]}日"),
)
departments = st.lists(st.sampled_from(DEPARTMENTS), min_size=1, max_size=3, unique=True).map(" ".join)


@st.composite
def records(draw: st.DrawFn) -> list[Record]:
    """1-12 real records with unique target numbers."""
    numbers = draw(st.lists(st.integers(1, 9999), min_size=1, max_size=12, unique=True))
    return [
        Record(
            target_no=n,
            leader_name=draw(st.sampled_from(LEADERS)),
            target_text=draw(cjk_text()),
            deadline_text=draw(deadlines),
            progress_text=draw(cjk_text()),
            on_schedule_text=draw(st.sampled_from(["是", "否"])),
            departments_text=draw(departments),
        )
        for n in numbers
    ]


@st.composite
def reports(draw: st.DrawFn) -> tuple[int, list[Record | Ghost], list[bool]]:
    """A layout (1-3 up), the block slots in print order (records in order, ghosts anywhere) and,
    per printed line, whether it ends with a stray empty cell."""
    up = draw(st.integers(1, 3))
    real = draw(records())
    slots: list[Record | Ghost] = list(real)
    for _ in range(draw(st.integers(0, 4))):
        # A ghost's number may repeat a real one (as in the seed report) or be any other number.
        number = draw(st.one_of(st.sampled_from([r.target_no for r in real]), st.integers(1, 9999)))
        ghost = Ghost(number, draw(st.sampled_from(LEADERS)), draw(st.integers(0, WIDTH - 2)))
        slots.insert(draw(st.integers(0, len(slots))), ghost)
    lines = -(-len(slots) // up)
    stray = draw(st.lists(st.booleans(), min_size=lines, max_size=lines))
    return up, slots, stray


def render(up: int, slots: list[Record | Ghost], stray: list[bool]) -> tuple[str, dict]:
    """The report text, and where each slot was printed: {id(slot): 1-based line}."""
    lines = [TITLE, "", "\t".join(HEADER * up)]
    printed_on: dict[int, int] = {}
    for index in range(0, len(slots), up):
        row = slots[index : index + up]
        cells: list[str] = []
        for slot in row:
            printed_on[id(slot)] = len(lines) + 1
            cells += slot.cells()
        cells += [""] * WIDTH * (up - len(row))  # empty trailing blocks on the last line
        if stray[index // up]:
            cells.append("")
        lines.append("\t".join(cells))
    return "\n".join(lines), printed_on


@settings(max_examples=200, deadline=None, derandomize=True)
@given(reports())
def test_records_read_back_exactly_and_ghosts_are_quarantined(report) -> None:
    up, slots, stray = report
    text, printed_on = render(up, slots, stray)
    real = [s for s in slots if isinstance(s, Record)]
    ghosts = [s for s in slots if isinstance(s, Ghost)]

    reshaped = reshape_grid(text_to_grid(text), "test-2021-Q1.txt")
    got = reshaped.records.with_columns(reshaped.records["departments_text"].str.strip_chars())

    # 1. the real records, field by field
    fields = ["target_no", "leader_name", "target_text", "deadline_text", "progress_text", "on_schedule_text", "departments_text"]
    assert sorted(got.select(fields).iter_rows()) == sorted(r.fields() for r in real), text

    # 4. each on the line it was printed on
    lines = dict(got.select("target_no", "source_line").iter_rows())
    assert lines == {str(r.target_no): printed_on[id(r)] for r in real}, text

    # 2. every ghost quarantined as a ghost, under its own number and line
    quarantined = sorted(reshaped.quarantine.select("source_line", "target_no_text", "reason").iter_rows())
    assert [(line, no) for line, no, _ in quarantined] == sorted((printed_on[id(g)], str(g.target_no)) for g in ghosts), text
    assert all(reason.startswith("ghost record") for _, _, reason in quarantined), quarantined

    # 3. nothing lost
    assert reshaped.records.height + reshaped.quarantine.height == len(real) + len(ghosts)
