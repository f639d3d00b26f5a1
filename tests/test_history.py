"""Four quarters of the seed's 54 targets, each published in another shape, built into one history."""

import shutil

import duckdb

from tests.history_fixture import EDITED_106

def test_bad_files_fail_alone_and_are_named(history) -> None:
    run, _ = history
    assert run.returncode == 1
    assert f"refused {run.raw / 'heze' / 'notes.txt'}: no reporting period found" in run.stdout
    assert "failed heze/heze-2021-Q2-draft.txt: no header row found" in run.stdout
    assert run.query("SELECT period_key, status, count(*) FROM dim_report GROUP BY ALL ORDER BY ALL") == [
        ("2021Q1", "loaded", 1), ("2021Q2", "failed", 1), ("2021Q2", "loaded", 1),
        ("2021Q3", "loaded", 1), ("2021Q4", "loaded", 1),
    ]


def test_every_period_holds_the_exact_records_of_its_file(history) -> None:
    run, quarters = history
    for period, records in quarters.items():
        rows = run.query(
            """SELECT target_no, leader_name, target_text, deadline_text, progress_text, on_schedule, departments
               FROM v_progress WHERE period_key = ? ORDER BY target_no""",
            [period],
        )
        newline = " " if period == "2021Q2" else "\n"  # the text export cannot hold a line break in a cell
        want = [
            (int(r.target_no), r.leader_name, r.target_text, r.deadline_text,
             r.progress_text.replace("\n", newline), r.on_schedule == "是", r.departments)
            for r in records
        ]
        assert rows == want, period


def test_every_raw_record_is_a_fact_or_quarantined(history) -> None:
    run, _ = history
    assert run.query(
        """SELECT r.period_key, r.records_read, count(DISTINCT f.target_key), r.quarantined
           FROM dim_report r LEFT JOIN fact_target_progress f USING (report_key)
           WHERE r.status = 'loaded' GROUP BY ALL ORDER BY 1"""
    ) == [("2021Q1", 58, 54, 4), ("2021Q2", 56, 54, 2), ("2021Q3", 54, 54, 0), ("2021Q4", 54, 54, 0)]
    assert run.query("SELECT count(*) FROM quarantine WHERE reason LIKE 'ghost record%'") == [(6,)]


def test_identity_and_versions(history) -> None:
    run, _ = history
    assert run.query(
        "SELECT version, valid_from_period, valid_to_period, target_text FROM dim_target WHERE target_no = 106 ORDER BY version"
    ) == [(1, "2021Q1", "2021Q3", "实施城市增绿工程"), (2, "2021Q3", None, EDITED_106)]
    assert run.query("SELECT count(*) FROM dim_target WHERE target_no = 85") == [(1,)]
    assert run.query("SELECT count(*) FROM dim_target") == [(55,)]
    assert run.query("SELECT target_no, previous_text, target_text, valid_from_period FROM v_target_changes") == [
        (106, "实施城市增绿工程", EDITED_106, "2021Q3")
    ]


def test_schedule_changes(history) -> None:
    run, _ = history
    assert run.query(
        """SELECT target_no, previous_period_key, period_key, previous_on_schedule, on_schedule, change
           FROM v_schedule_changes ORDER BY period_key, target_no"""
    ) == [
        (60, "2021Q1", "2021Q2", True, False, "slipped"),
        (60, "2021Q2", "2021Q3", False, True, "caught up"),
        (62, "2021Q2", "2021Q3", True, False, "slipped"),
        (76, "2021Q3", "2021Q4", True, False, "slipped"),
    ]


def test_stale_progress(history) -> None:
    run, quarters = history
    assert run.query("SELECT target_no, previous_period_key, period_key FROM v_stale_progress ORDER BY period_key") == [
        (61, "2021Q1", "2021Q2"),
        (70, "2021Q2", "2021Q3"),
    ]


def test_target_history_side_by_side(history) -> None:
    run, _ = history
    assert run.query(
        """SELECT q1_on_schedule, q2_on_schedule, q3_on_schedule, q4_on_schedule, periods_reported, len(history)
           FROM v_target_history WHERE target_no = 60"""
    ) == [(True, False, True, True, 4, 4)]
    assert run.query("SELECT history_text FROM v_target_history WHERE target_no = 60") == [
        ("2021Q1 是、2021Q2 否、2021Q3 是、2021Q4 是",)
    ]
    assert run.query("SELECT history FROM v_target_history WHERE target_no = 60") == [([
        {"period_key": "2021Q1", "on_schedule": True},
        {"period_key": "2021Q2", "on_schedule": False},
        {"period_key": "2021Q3", "on_schedule": True},
        {"period_key": "2021Q4", "on_schedule": True},
    ],)]
    assert run.query("SELECT count(*) FROM v_target_history") == [(54,)]


def test_department_scorecard(history) -> None:
    run, quarters = history
    for period, records in quarters.items():
        led = [r for r in records if r.departments[0] == "市工业和信息化局"]
        on = sum(r.on_schedule == "是" for r in led)
        assert run.query(
            """SELECT targets_led, led_on_schedule, share_on_schedule FROM v_department_scorecard
               WHERE period_key = ? AND department_name = '市工业和信息化局'""",
            [period],
        ) == [(len(led), on, round(on / len(led), 4))], period
    assert run.query("SELECT sum(targets_led) FROM v_department_scorecard WHERE period_key = '2021Q3'") == [(54,)]


def test_target_history_orders_periods_by_date_not_by_storage(history, tmp_path) -> None:
    """The history lists follow the periods' dates even when the facts are stored newest first."""
    run, _ = history
    copy = tmp_path / "reversed.duckdb"
    shutil.copy2(run.warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("CREATE TEMP TABLE kept AS SELECT * FROM fact_target_progress ORDER BY period_key DESC")
        con.execute("DELETE FROM fact_target_progress")
        con.execute("INSERT INTO fact_target_progress SELECT * FROM kept")
        assert con.execute("SELECT period_key FROM fact_target_progress LIMIT 1").fetchone() == ("2021Q4",)
        rows = con.execute("SELECT history_text, [h.period_key for h in history] FROM v_target_history").fetchall()
    assert len(rows) == 54
    for text, periods in rows:
        assert periods == sorted(periods)
        assert [part.split(" ")[0] for part in text.split("、")] == periods
