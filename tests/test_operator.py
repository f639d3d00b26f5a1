"""What an operator sees: progress on a terminal and in a pipe, a summary that scales, --json, --report-file,
`duban status`, `duban dev` from any folder and `duban --version` — all as real processes."""

from __future__ import annotations

import csv
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import fcntl
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DUBAN, SEED, run_build
from tests.report_writers import sample_records, write_text

CITIES = [a + b for a in "甲乙丙丁戊" for b in "东南西北中"]  # 25 publishers
QUARTERS = {1: "第一季度", 2: "上半年", 3: "前三季度", 4: "全年"}
YEARS = [2019, 2020, 2021]  # × 4 quarters = 12 periods; 25 × 12 = 300 reports
STAGES = ("scan", "read", "reshape and validate", "load", "publish", "export")
PROGRESS = re.compile(r"^duban: (" + "|".join(STAGES) + r") ([\d,]+)/([\d,]+) .*, (\d+) s$")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


def write_corpus(raw: Path) -> int:
    """300 small reports over 25 publishers and 12 periods; every 7th has a ghost row (quarantined)."""
    raw.mkdir(parents=True)
    n = 0
    for city in CITIES:
        (raw / city).mkdir()
        for year in YEARS:
            for quarter, words in QUARTERS.items():
                records = sample_records(n=3, start=1)
                ghosts = [(1, "90", records[0].leader_name)] if n % 7 == 0 else []
                write_text(raw / city / f"{city}-{year}-Q{quarter}.txt",
                           f"{city}市人民政府{year}年责任目标{words}工作推进情况一览表", records, ghosts=ghosts)
                n += 1
    return n


def duban_env(home: Path, **extra: str) -> dict:
    env = {**os.environ, "DAGSTER_HOME": str(home), **extra}
    env.pop("DUBAN_RAW", None)
    env.pop("DUBAN_WAREHOUSE", None)
    return env


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("corpus") / "raw"
    assert write_corpus(raw) == 300
    return raw


def test_a_build_on_a_terminal_shows_a_live_bar_that_advances(corpus: Path, tmp_path: Path) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    env = duban_env(tmp_path / "home", TERM="xterm-256color", DUBAN_WORKERS="2")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [str(DUBAN), "build", "--raw", str(corpus), "--warehouse", str(tmp_path / "w" / "duban.duckdb")],
        stdin=slave, stdout=slave, stderr=slave, env=env, cwd=tmp_path, start_new_session=True,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(timeout=60) == 0
    screen = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
    assert "━" in screen, screen[-3000:]  # rich's bar
    counts = {int(m) for m in re.findall(r"\bscan +\S+ +(\d+)/300 +files", screen)}  # the scan reads every file
    assert len(counts) >= 2 and 300 in counts, (counts, screen[-3000:])
    for stage in ("read", "reshape and validate", "load"):
        assert re.search(rf"\b{stage} +\S+ +300/300 +reports", screen), stage
    assert "ETA" in screen
    assert "duban: 300 reports, " in screen  # the summary comes after the bars


@pytest.fixture(scope="module")
def piped(corpus: Path, tmp_path_factory: pytest.TempPathFactory):
    """The 300 reports built with stdout and stderr going to pipes, with a report file."""
    root = tmp_path_factory.mktemp("piped")
    warehouse = root / "w" / "duban.duckdb"
    report_file = root / "reports.csv"
    started = time.monotonic()
    proc = subprocess.run(
        [str(DUBAN), "build", "--raw", str(corpus), "--warehouse", str(warehouse), "--report-file", str(report_file)],
        capture_output=True, text=True, env=duban_env(root / "home", DUBAN_PROGRESS_SECONDS="2", DUBAN_WORKERS="2"),
        cwd=root, timeout=400,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, warehouse, report_file, time.monotonic() - started


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_piped_build_prints_throttled_progress_lines(piped) -> None:
    proc, _, _, seconds = piped
    lines = [m.groups() for m in map(PROGRESS.match, proc.stderr.splitlines()) if m]
    by_stage: dict[str, list[tuple]] = {}
    for stage, done, total, elapsed in lines:
        by_stage.setdefault(stage, []).append((int(done.replace(",", "")), int(total.replace(",", "")), int(elapsed)))
    # a stage over in less than a second prints nothing: the read of staged grids, publish, export, and since
    # they got faster the scan of 300 small files and the load of 12 new periods (one batch) may not either; the
    # stages together take seconds, and at least one of them (reshaping, in worker processes) a second or more
    assert by_stage and set(by_stage) <= set(STAGES), proc.stderr
    for stage, seen in by_stage.items():
        done, total, elapsed = seen[-1]
        assert done == total, (stage, seen)  # the last line says the stage is complete
        # one line per 2 s at most, plus the closing line
        assert len(seen) <= elapsed / 2 + 2, (stage, seen)
    for stage in ("scan", "reshape and validate", "load"):
        if stage in by_stage:
            assert by_stage[stage][-1][:2] == (300, 300)
    assert len(lines) <= seconds / 2 * len(STAGES) + 2 * len(STAGES)
    assert "━" not in proc.stderr + proc.stdout and "\x1b[" not in proc.stderr  # no bar, no escape codes


def test_the_summary_of_300_reports_is_short_and_its_totals_are_the_warehouse(piped) -> None:
    proc, warehouse, _, _ = piped
    lines = proc.stdout.splitlines()
    assert len(lines) <= 40, proc.stdout
    assert not any(line.startswith("publisher ") for line in lines)  # no per-report table without --verbose
    (facts,) = query(warehouse, "SELECT count(*) FROM fact_target_progress")[0]
    (quarantined,) = query(warehouse, "SELECT count(*) FROM quarantine")[0]
    (reports, read, failed) = query(
        warehouse, "SELECT count(*), sum(records_read), count(*) FILTER (WHERE status = 'failed') FROM dim_report"
    )[0]
    assert (reports, facts) == (300, 900) and quarantined > 0
    assert f"duban: {reports:,} reports, {read:,} records read: {facts:,} accepted, {quarantined:,} quarantined, {failed} failed" in lines
    # per period: 25 reports each, with the publishers counted
    for (period,) in query(warehouse, "SELECT DISTINCT period_key FROM dim_report"):
        row = next(line for line in lines if line.startswith(period + " "))
        assert row.split()[1:3] == ["25", "25"], row
    assert "quarantined by reason:" in lines and any(line.startswith("most quarantined: ") for line in lines)


def test_the_report_file_holds_one_row_per_report(piped) -> None:
    _, warehouse, report_file, _ = piped
    with report_file.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 300
    held = query(warehouse, "SELECT source_file, publisher, period_key, status, records_read, accepted, quarantined FROM dim_report")
    assert sorted(
        (r["source_file"], r["publisher"], r["period_key"], r["status"], int(r["records_read"]), int(r["accepted"]),
         int(r["quarantined"])) for r in rows
    ) == sorted(held)


# ---------------------------------------------------------------- a failing and a quarantining report


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory):
    """The seed (4 ghost rows quarantined) and a file without a header (failed): a text build, then --json."""
    root = tmp_path_factory.mktemp("mixed")
    raw = root / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    (raw / "other-2021-Q1.txt").write_text("# 其他市人民政府2021年第一季度\n\n甲\t乙\t丙\n", encoding="utf-8")
    warehouse, home = root / "w" / "duban.duckdb", root / "home"
    text = run_build(raw, warehouse, home)
    as_json = run_build(raw, warehouse, home, "--json", "--all")
    return text, as_json


def test_the_text_summary_names_the_failed_and_the_quarantining_report(mixed) -> None:
    text, _ = mixed
    assert text.returncode == 1, text.stdout + text.stderr
    lines = text.stdout.splitlines()
    assert "  failed other-2021-Q1.txt: no header row found" in "\n".join(lines)
    assert "most quarantined: heze-2021-Q1.txt (4)" in lines
    assert "duban: 2 reports, 58 records read: 54 accepted, 4 quarantined, 1 failed" in lines
    assert "duban: 1 problem(s): 0 file(s) refused, 1 report(s) failed, 0 run(s) failed" in lines


def test_json_is_one_document_whose_reports_equal_dim_report(mixed) -> None:
    _, built = mixed
    assert built.returncode == 1, built.stderr
    document = json.loads(built.stdout)  # progress and messages went to stderr
    assert "duban: reading reports under" in built.stderr
    assert document["exit_status"] == 1 and document["run_id"]
    assert document["totals"]["reports"] == 2 and document["totals"]["failed"] == 1
    assert document["totals"]["quarantined"] == 4
    held = built.query(
        "SELECT source_file, publisher, period_key, status, records_read, accepted, quarantined, error FROM dim_report"
    )
    fields = ["source_file", "publisher", "period_key", "status", "records_read", "accepted", "quarantined", "error"]
    assert sorted(tuple(r[f] for f in fields) for r in document["reports"]) == sorted(held)
    failed = next(r for r in document["reports"] if r["status"] == "failed")
    assert failed["source_file"] == "other-2021-Q1.txt" and failed["error"].startswith("no header row found")
    assert [q["records"] for q in document["quarantine_by_reason"]] == [4]
    run = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "run", "list", "--limit", "1"],
        capture_output=True, text=True, env={**os.environ, "DAGSTER_HOME": str(built.home)}, timeout=120,
    )
    assert document["run_id"] in run.stdout, run.stdout + run.stderr


def test_the_assets_report_progress_as_log_events(mixed) -> None:
    import dagster as dg

    _, built = mixed
    run_id = json.loads(built.stdout)["run_id"]
    with dg.DagsterInstance.from_config(str(built.home)) as instance:
        messages = [event.user_message for event in instance.all_logs(run_id)]
    # (no reshaping: --all reuses the reports processed by the first build)
    for line in ("read 2/2 reports", "load 2/2 reports", "publish ", "export "):
        assert any(m.startswith(line) for m in messages), (line, messages)


# ---------------------------------------------------------------- duban status


def status(warehouse: Path, *extra: str, home: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env.pop("DAGSTER_HOME", None)
    if home:
        env["DAGSTER_HOME"] = str(home)
    return subprocess.run([str(DUBAN), "status", "--warehouse", str(warehouse), *extra],
                          capture_output=True, text=True, env=env, timeout=120)


def test_status_says_what_the_four_quarters_hold(history) -> None:
    run, _ = history
    before = run.warehouse.stat().st_mtime_ns
    out = status(run.warehouse)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for period in ("2021Q1", "2021Q2", "2021Q3", "2021Q4"):
        (facts,) = run.query("SELECT count(*) FROM fact_target_progress WHERE period_key = ?", [period])[0]
        row = next(line.split() for line in lines if line.startswith(period + " "))
        assert row[6] == str(facts), row
    assert any(line.startswith("菏泽市人民政府 ") and line.split()[1] == "4" for line in lines), out.stdout
    assert "failed:" in lines and any("heze/heze-2021-Q2-draft.txt" in line for line in lines)
    assert "quarantined by reason:" in lines
    assert run.warehouse.stat().st_mtime_ns == before  # read-only


def test_status_json_equals_the_warehouse(history) -> None:
    run, _ = history
    out = status(run.warehouse, "--json", home=run.home)
    assert out.returncode == 0, out.stderr
    held = json.loads(out.stdout)
    assert [(p["period_key"], p["reports"], p["loaded"], p["failed"], p["facts"], p["quarantined"]) for p in held["periods"]] == run.query(
        """SELECT r.period_key, count(*), count(*) FILTER (WHERE status = 'loaded'), count(*) FILTER (WHERE status = 'failed'),
                  (SELECT count(*) FROM fact_target_progress f WHERE f.period_key = r.period_key),
                  (SELECT count(*) FROM quarantine q JOIN dim_report x USING (report_key) WHERE x.period_key = r.period_key)
           FROM dim_report r GROUP BY 1 ORDER BY 1"""
    )
    assert [(p["publisher"], p["periods"], p["reports"]) for p in held["publishers"]] == run.query(
        "SELECT publisher, count(DISTINCT period_key), count(*) FROM dim_report WHERE publisher IS NOT NULL GROUP BY 1 ORDER BY 1"
    )
    assert [(f["source_file"], f["error"]) for f in held["failed"]] == run.query(
        "SELECT source_file, error FROM dim_report WHERE status = 'failed' ORDER BY period_key, source_file"
    )
    assert [(q["reason"], q["records"]) for q in held["quarantine_by_reason"]] == run.query(
        "SELECT reason, count(*) FROM quarantine GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    assert (held["totals"]["facts"], held["totals"]["quarantined"]) == run.query(
        "SELECT (SELECT count(*) FROM fact_target_progress), (SELECT count(*) FROM quarantine)"
    )[0]
    assert held["pipeline_version"] == run.query("SELECT value FROM duban_meta WHERE key = 'pipeline_version'")[0][0]
    assert held["last_build"]["loaded_at"] == str(run.query("SELECT max(loaded_at) FROM dim_report")[0][0])
    assert held["last_build"]["run_id"]  # from the Dagster home the build used


# ---------------------------------------------------------------- duban dev, --version, --help


def test_duban_dev_from_another_folder_answers_on_its_port(tmp_path: Path) -> None:
    from tests.test_dagster_dev import free_port

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "DUBAN_RAW": str(tmp_path / "raw"),
           "DUBAN_WAREHOUSE": str(tmp_path / "w" / "duban.duckdb")}
    (tmp_path / "raw").mkdir()
    log = (tmp_path / "dev.log").open("w")
    proc = subprocess.Popen([str(DUBAN), "dev", "--port", str(port)], cwd=elsewhere, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def graphql(query: str) -> dict | None:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.load(response)["data"]
        except OSError:
            return None

    try:
        deadline = time.monotonic() + 180
        while (answer := graphql("{ version }")) is None and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "dev.log").read_text()
            time.sleep(1)
        assert answer and answer["version"], (tmp_path / "dev.log").read_text()
        locations = graphql("""{ workspaceOrError { ... on Workspace { locationEntries { name
            locationOrLoadError { __typename } } } } }""")["workspaceOrError"]["locationEntries"]
        assert [(l["name"], l["locationOrLoadError"]["__typename"]) for l in locations] == [("duban", "RepositoryLocation")]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    assert f"Dagster UI at http://127.0.0.1:{port}" in (tmp_path / "dev.log").read_text()


def test_version_and_help() -> None:
    from pipelines.version import pipeline_version

    out = subprocess.run([str(DUBAN), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and re.fullmatch(rf"duban \d+\.\d+\S* \(pipeline {pipeline_version()}\)\n", out.stdout), out
    build_help = subprocess.run([str(DUBAN), "build", "--help"], capture_output=True, text=True, timeout=60).stdout
    for text in ("--json", "--report-file", "$DUBAN_RAW", "$DUBAN_WAREHOUSE", "$DUBAN_PROGRESS_SECONDS", "DAGSTER_HOME"):
        assert text in build_help, text
    dev_help = subprocess.run([str(DUBAN), "dev", "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "(default: 3000)" in dev_help and "(default: 127.0.0.1)" in dev_help
