"""The warehouse on DuckLake with its catalog in a real PostgreSQL: the same facts as a DuckDB file, one snapshot
per build, concurrent writers that converge to a sequential build, readers that never see half a report."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.contracts import star_tables
from pipelines.targets import target_for
from pipelines.views import view_names
from tests.conftest import DUBAN, SEED, run_build
from tests.history_fixture import PUBLISHER
from tests.report_writers import sample_records, write_text

IGNORED = {"loaded_at"}  # when a row was written: differs between any two builds


def _rows(con: duckdb.DuckDBPyConnection, name: str, drop: set[str] = IGNORED) -> list[tuple]:
    columns = [c for (c,) in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND table_name = ? "
        "ORDER BY column_index", [name]).fetchall() if c not in drop]
    if not columns:  # a view: its columns from a probe
        columns = [d[0] for d in con.execute(f'SELECT * FROM "{name}" LIMIT 0').description if d[0] not in drop]
    listed = ", ".join(f'"{c}"' for c in columns)
    return con.execute(f'SELECT {listed} FROM "{name}" ORDER BY ALL').fetchall()


def _lake_build(raw: Path, lake: str, data: Path, home: Path, *extra: str, env: dict | None = None):
    return run_build(raw, lake, home, "--data-path", str(data), *extra, env=env)


def test_the_history_in_a_ducklake_equals_the_same_build_into_a_duckdb_file(history, lake_server, tmp_path: Path) -> None:
    run, _ = history
    lake, data = lake_server.new_lake()
    built = _lake_build(run.raw, lake, data, tmp_path / "home")
    assert built.returncode == run.returncode == 1, built.stdout + built.stderr  # the two bad files fail on both
    totals = [line for line in run.stdout.splitlines() if "records read" in line]
    assert totals and totals == [line for line in built.stdout.splitlines() if "records read" in line]
    with duckdb.connect(str(run.warehouse), read_only=True) as file_con, target_for(lake).read() as lake_con:
        for name in [*star_tables(), *view_names()]:
            assert _rows(lake_con, name) == _rows(file_con, name), name
        (facts,) = lake_con.execute("SELECT count(*) FROM fact_target_progress").fetchone()
        assert facts == 4 * 54
        meta = dict(lake_con.execute("SELECT key, value FROM duban_meta").fetchall())
        assert meta["schema_version"] == dict(file_con.execute("SELECT key, value FROM duban_meta").fetchall())["schema_version"]
        comments = "SELECT table_name, comment FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1"
        assert lake_con.execute(comments).fetchall() == file_con.execute(comments).fetchall()
        snapshots = lake_con.execute("SELECT snapshot_id, commit_message FROM lake.snapshots() ORDER BY 1").fetchall()
    builds = [message for _, message in snapshots if message and message.startswith("duban build")]
    assert len(builds) == 1 and "heze-2021-Q1.txt" in builds[0] and "2021Q4" in builds[0]  # one build = one snapshot
    again = _lake_build(run.raw, lake, data, tmp_path / "home")
    assert "already in the warehouse and unchanged" in again.stdout
    with target_for(lake).read() as con:
        assert con.execute("SELECT count(*) FROM lake.snapshots()").fetchone()[0] == len(snapshots)  # nothing new: no snapshot


CITIES = ["济南市人民政府", "青岛市人民政府", "淄博市人民政府", "枣庄市人民政府"]


def _publisher_folder(root: Path, city: str, seed: int) -> Path:
    """A raw folder with one city's Q1 and Q2 reports."""
    raw = root / f"raw-{seed}"
    raw.mkdir(parents=True)
    q1 = sample_records(30, seed=seed)
    write_text(raw / f"city{seed}-2021-Q1.txt", f"{city}2021年责任目标第一季度工作推进情况一览表", q1)
    q2 = [r.__class__(**{**r.__dict__, "progress_text": "二季度：" + r.progress_text}) for r in q1]
    write_text(raw / f"city{seed}-2021-Q2.txt", f"{city}2021年责任目标上半年工作推进情况一览表", q2)
    return raw


def _reissue_folders(root: Path) -> list[Path]:
    """Two folders holding the same re-issued Heze 2021Q1 (the seed, then a corrected copy): two builds race on one period."""
    first = root / "raw-reissue-a"
    first.mkdir()
    shutil.copy2(SEED, first / SEED.name)
    corrected = first / "heze-2021-Q1-corrected.txt"
    corrected.write_text(SEED.read_text(encoding="utf-8").replace("\t是\t", "\t否\t", 3), encoding="utf-8")  # three targets fall behind
    os.utime(corrected, (time.time() + 60, time.time() + 60))  # newer than the seed: the current report
    second = root / "raw-reissue-b"
    shutil.copytree(first, second)  # copytree keeps the modification times
    return [first, second]


def _partial_reports(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Loaded reports whose facts and quarantine rows do not add up to the records read, and doubled current reports."""
    broken = con.execute(
        """SELECT r.source_file, r.records_read,
                  (SELECT count(*) FROM fact_target_progress f WHERE f.report_key = r.report_key)
                + (SELECT count(*) FROM quarantine q WHERE q.report_key = r.report_key) AS rows
           FROM dim_report r WHERE r.status = 'loaded' AND r.records_read IS DISTINCT FROM rows"""
    ).fetchall()
    doubled = con.execute(
        "SELECT publisher, period_key, count(*) FROM dim_report WHERE status = 'loaded' GROUP BY 1, 2 HAVING count(*) > 1"
    ).fetchall()
    return broken + doubled


def _facts(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """What the builds say, without surrogate keys (which depend on the order writers committed in)."""
    keys = {"report_key", "target_key", "leader_key", "department_key", "quarantine_key", "superseded_by", "loaded_at"}
    return {
        "v_progress": _rows(con, "v_progress", keys),
        "reports": _rows(con, "dim_report", keys),
        "quarantine": _rows(con, "quarantine", keys),
        "targets": _rows(con, "dim_target", keys),
    }


def test_six_builds_at_once_converge_to_a_sequential_build_and_readers_never_see_half_a_report(lake_server, tmp_path: Path) -> None:
    from pipelines.local_build import build_locally

    folders = [_publisher_folder(tmp_path, city, n) for n, city in enumerate(CITIES, 1)] + _reissue_folders(tmp_path)
    lake, data = lake_server.new_lake()
    # the schema first, so the six builds race on data rather than on creating tables
    first = _lake_build(folders[0], lake, data, tmp_path / "home-0")
    assert first.returncode == 0, first.stdout + first.stderr

    seen: set[int] = set()
    problems: list[str] = []
    stop = threading.Event()

    def read_in_a_loop() -> None:
        while not stop.is_set():
            with target_for(lake).read() as con:
                (snapshot,) = con.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()
                seen.add(snapshot)
                problems.extend(f"snapshot {snapshot}: {row}" for row in _partial_reports(con))
            time.sleep(0.2)

    reader = threading.Thread(target=read_in_a_loop)
    reader.start()
    env = {**os.environ, "DUBAN_LAKE_RETRIES": "30"}
    env.pop("DUBAN_WAREHOUSE", None)
    try:
        procs = [
            subprocess.Popen(
                [str(DUBAN), "build", "--raw", str(raw), "--warehouse", lake, "--data-path", str(data)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                env={**env, "DAGSTER_HOME": str(tmp_path / f"home-{n}")},
            )
            for n, raw in enumerate(folders[1:] + folders[:1], 1)
        ]
        outputs = [proc.communicate(timeout=900) for proc in procs]
    finally:
        stop.set()
        reader.join(timeout=60)
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, out + err
    retried = sum("conflicted with other writers" in out for out, _ in outputs)
    print(f"{retried} of {len(procs)} builds had a commit conflict retried; the reader saw {len(seen)} snapshots")
    assert problems == []
    assert len(seen) >= 2  # the reader ran across the builds' commits, not only before or after them

    sequential, sequential_data = lake_server.new_lake()
    for raw in folders:
        build_locally(raw, target_for(sequential, str(sequential_data)))
    with target_for(lake).read() as con, target_for(sequential).read() as reference:
        ours, theirs = _facts(con), _facts(reference)
        for name in ours:
            assert ours[name] == theirs[name], (name, [r for r in ours[name] if r not in theirs[name]][:3],
                                                [r for r in theirs[name] if r not in ours[name]][:3])
        assert _partial_reports(con) == []
        (publishers,) = con.execute("SELECT count(DISTINCT publisher) FROM v_progress").fetchone()
        assert publishers == len(CITIES) + 1
        assert con.execute(
            "SELECT count(*) FROM dim_report WHERE publisher = ? AND status = 'superseded'", [PUBLISHER]
        ).fetchone()[0] == 1  # the seed, superseded by the corrected re-issue
        messages = [m for (m,) in con.execute("SELECT commit_message FROM lake.snapshots() ORDER BY snapshot_id").fetchall()
                    if m and m.startswith("duban build")]
    # one snapshot per build that changed something: the first, four cities and one of the racing re-issues
    # (the other finds the period as it wants it, unless it committed first and the other found nothing to do)
    assert len(messages) in (6, 7), messages


def _build_losing_its_commit(lake_server, tmp_path: Path, **extra_env: str) -> tuple[str, subprocess.Popen, str, str]:
    """CITIES[0] built; then a build of CITIES[1] held at its commit point while a build of CITIES[2] commits
    first, then released. Returns (lake, the held build's process, its stdout, its stderr)."""
    lake, data = lake_server.new_lake()
    early = _publisher_folder(tmp_path, CITIES[0], 1)
    assert _lake_build(early, lake, data, tmp_path / "home-0").returncode == 0
    held, other = _publisher_folder(tmp_path, CITIES[1], 2), _publisher_folder(tmp_path, CITIES[2], 3)
    pause = tmp_path / "pause"
    pause.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home-1"), "DUBAN_PAUSE_AT": "lake-commit",
           "DUBAN_PAUSE_DIR": str(pause), **extra_env}
    env.pop("DUBAN_WAREHOUSE", None)
    proc = subprocess.Popen(
        [str(DUBAN), "build", "--raw", str(held), "--warehouse", lake, "--data-path", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
    )
    try:
        deadline = time.monotonic() + 300
        while not (pause / "lake-commit.reached").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        with target_for(lake).read() as con:  # everything written, nothing committed: readers see none of it
            assert con.execute("SELECT count(*) FROM dim_report WHERE publisher = ?", [CITIES[1]]).fetchone()[0] == 0
        assert _lake_build(other, lake, data, tmp_path / "home-2").returncode == 0  # commits first
        (pause / "lake-commit.release").touch()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    return lake, proc, out, err


def test_builds_starting_at_once_on_a_new_catalog_all_land(lake_server, tmp_path: Path) -> None:
    """The first ATTACH of an empty PostgreSQL catalog creates DuckLake's tables; three builds doing it at the same
    moment collided there ("duplicate key … pg_type_typname_nsp_index") and two failed. Now they wait and all land."""
    lake, data = lake_server.new_lake()
    folders = [_publisher_folder(tmp_path, city, n) for n, city in enumerate(CITIES[:3], 1)]
    procs = []
    for n, folder in enumerate(folders):
        env = {**os.environ, "DAGSTER_HOME": str(tmp_path / f"home-{n}")}
        env.pop("DUBAN_WAREHOUSE", None)
        procs.append(subprocess.Popen(
            [str(DUBAN), "build", "--raw", str(folder), "--warehouse", lake, "--data-path", str(data)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
        ))
    try:
        outputs = [proc.communicate(timeout=600) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, out + err
    with target_for(lake).read() as con:
        counts = dict(con.execute("SELECT publisher, count(*) FROM v_progress GROUP BY 1").fetchall())
        assert _partial_reports(con) == []
    assert counts == {city: 60 for city in CITIES[:3]}


def test_a_build_whose_commit_conflicts_is_run_again_whole_and_says_so(lake_server, tmp_path: Path) -> None:
    lake, proc, out, err = _build_losing_its_commit(lake_server, tmp_path)
    assert proc.returncode == 0, out + err
    assert "another writer committed to the DuckLake first" in out + err
    assert "1 commit(s) conflicted with other writers of the DuckLake and were run again" in out
    with target_for(lake).read() as con:
        counts = dict(con.execute("SELECT publisher, count(*) FROM v_progress GROUP BY 1").fetchall())
        assert counts == {CITIES[0]: 60, CITIES[1]: 60, CITIES[2]: 60}
        assert _partial_reports(con) == []
        (duplicates,) = con.execute(
            "SELECT count(*) FROM (SELECT report_key FROM dim_report GROUP BY 1 HAVING count(*) > 1)").fetchone()
        assert duplicates == 0  # keys drawn again on the new snapshot, not reused


def test_a_build_that_gives_up_says_so_in_one_line_and_commits_nothing(lake_server, tmp_path: Path) -> None:
    """DUBAN_LAKE_RETRIES=1: the held build loses its one commit to another writer and gives up. The operator
    reads one line saying what happened and what to do, not Dagster's traceback; exit status 1; nothing of it landed."""
    lake, proc, out, err = _build_losing_its_commit(lake_server, tmp_path, DUBAN_LAKE_RETRIES="1")
    assert proc.returncode == 1, out + err
    assert "step star_schema failed: LakeConflict: other writers kept committing to the DuckLake" in err, err
    assert "gave up after 1 attempt with nothing of this build committed; run the build again" in err
    for noise in ("Traceback", "Stack Trace", "File \"", "DagsterExecutionStepExecutionError"):
        assert noise not in out + err, (noise, err)
    assert "1 run(s) failed" in out + err
    with target_for(lake).read() as con:
        counts = dict(con.execute("SELECT publisher, count(*) FROM v_progress GROUP BY 1").fetchall())
    assert counts == {CITIES[0]: 60, CITIES[2]: 60}


def test_removing_a_reissue_from_a_folder_building_into_a_lake_brings_the_original_back(tmp_path: Path) -> None:
    """A lake build compares only its own folder's files; a re-issue taken out of the folder is one of them (the
    folder's previous scan had it), so the period is rebuilt from the files left: the original is current again."""
    raw = _reissue_folders(tmp_path)[0]
    corrected = raw / "heze-2021-Q1-corrected.txt"
    lake, data = f"ducklake:{tmp_path / 'w.ducklake'}", tmp_path / "lake-data"

    def behind() -> tuple[int, set]:
        with target_for(lake).read() as con:
            (count,) = con.execute("SELECT count(*) FROM v_progress WHERE on_schedule IS FALSE").fetchone()
            files = set(con.execute("SELECT source_file, status FROM dim_report").fetchall())
        return count, files

    assert _lake_build(raw, lake, data, tmp_path / "home").returncode == 0
    before, files = behind()
    assert files == {(SEED.name, "superseded"), (corrected.name, "loaded")}
    corrected.unlink()
    again = _lake_build(raw, lake, data, tmp_path / "home")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"removed {corrected.name}: no longer under the raw directory; its reports leave the warehouse" in again.stdout + again.stderr
    after, files = behind()
    assert files == {(SEED.name, "loaded")} and after == before - 3  # the corrected copy had three more behind


def test_an_s3_data_path_gets_its_secret_from_the_environment_and_an_unknown_scheme_is_refused(monkeypatch, tmp_path: Path) -> None:
    from pipelines.targets.lake import LakeError, LakeTarget, load_extensions, s3_secret

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    load_extensions(con, postgres=False, remote=True, folder=tmp_path / "ext")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert s3_secret(con) is False  # no key: nothing made up
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "duban-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "duban-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "cn-north-1")
    monkeypatch.setenv("DUBAN_S3_ENDPOINT", "minio.internal:9000")
    monkeypatch.setenv("DUBAN_S3_URL_STYLE", "path")
    monkeypatch.setenv("DUBAN_S3_USE_SSL", "false")
    assert s3_secret(con) is True
    (secret,) = con.execute("SELECT secret_string FROM duckdb_secrets() WHERE name = 'duban_s3'").fetchone()
    for expected in ("key_id=duban-key", "region=cn-north-1", "endpoint=minio.internal:9000", "url_style=path", "use_ssl=false"):
        assert expected in secret, secret
    assert "duban-secret" not in secret  # DuckDB redacts the secret itself
    scope = con.execute("SELECT scope FROM duckdb_secrets() WHERE name = 'duban_s3'").fetchone()[0]
    assert any(s.startswith("s3://") for s in scope)
    with pytest.raises(LakeError, match="az:// is not supported"):
        LakeTarget(f"ducklake:{tmp_path / 'w.ducklake'}", "az://container/lake")
    assert LakeTarget(f"ducklake:{tmp_path / 'w.ducklake'}", "s3://bucket/lake").data_path == "s3://bucket/lake/"


@pytest.mark.parametrize(("name", "value"), [("DUBAN_LAKE_RETRIES", "many"), ("DUBAN_LAKE_RETRIES", "0"),
                                             ("DUBAN_LAKE_RETRY_SECONDS", "-1"), ("DUBAN_LAKE_RETRY_SECONDS", "soon")])
def test_bad_retry_settings_are_refused_with_their_name(monkeypatch, name: str, value: str) -> None:
    from pipelines.errors import ConfigurationError
    from pipelines.targets.lake import retry_settings

    assert retry_settings() == (8, 0.2, 5.0)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        retry_settings()


SECRET = "S3cret-lake-pw"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DUBAN_WAREHOUSE", "DUBAN_DATA_PATH")}
    env["DAGSTER_HOME"] = str(cwd / "home")
    return subprocess.run([str(DUBAN), *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


def test_bad_lake_settings_are_one_line_and_never_show_the_password(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    unreachable = f"ducklake:postgres:dbname=lake host=127.0.0.1 port=1 user=duban password={SECRET}"
    cases = {
        # a typo must not become a local catalog file named after the connection string
        "typo": ["build", "--raw", str(raw), "--warehouse", f"ducklake:postgresql:dbname=lake password={SECRET}",
                 "--data-path", str(tmp_path / "d")],
        "file warehouse": ["build", "--raw", str(raw), "--warehouse", "ducklake:w/duban.duckdb"],
        "unreachable": ["build", "--raw", str(raw), "--warehouse", unreachable, "--data-path", str(tmp_path / "d")],
        "quoted": ["sql", "--warehouse", f"ducklake:postgres:dbname=lake port=1 host=127.0.0.1 password='{SECRET} x'",
                   "SELECT 1"],
        "uri": ["status", "--warehouse", f"ducklake:postgres:postgresql://duban:{SECRET}@127.0.0.1:1/lake"],
        "serve": ["serve", "--warehouse", unreachable, "--port", "1"],
    }
    before = set(tmp_path.iterdir())
    for name, args in cases.items():
        done = _cli(*args, cwd=tmp_path)
        assert done.returncode != 0, name
        assert SECRET not in done.stdout + done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr, (name, done.stderr)
    assert {p.name for p in set(tmp_path.iterdir()) - before} <= {"home", "warehouse", "d"}  # no file named after a spec
    typo = _cli(*cases["typo"], cwd=tmp_path)
    assert "is not a DuckLake duban knows" in typo.stderr and "password=***" in typo.stderr


def test_a_data_path_that_cannot_be_a_folder_is_one_line(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(SEED, raw / SEED.name)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for data in (blocker, blocker / "below"):
        done = _cli("build", "--raw", str(raw), "--warehouse", f"ducklake:{tmp_path / 'w.ducklake'}", "--data-path",
                    str(data), cwd=tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert "as the DuckLake's data folder" in done.stderr, done.stderr


def test_two_builds_into_one_local_catalog_take_turns_and_each_summary_speaks_for_its_own_files(tmp_path: Path) -> None:
    lake, data = f"ducklake:{tmp_path / 'w.ducklake'}", tmp_path / "data"
    folders = [_publisher_folder(tmp_path, city, n) for n, city in enumerate(CITIES[:2], 1)]
    env = {k: v for k, v in os.environ.items() if k not in ("DUBAN_WAREHOUSE", "DUBAN_DATA_PATH")}
    procs = [subprocess.Popen([str(DUBAN), "build", "--raw", str(raw), "--warehouse", lake, "--data-path", str(data)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                              env={**env, "DAGSTER_HOME": str(tmp_path / f"home-{n}")}) for n, raw in enumerate(folders)]
    outputs = [proc.communicate(timeout=900) for proc in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, out + err
    for n, (out, _) in enumerate(outputs):
        own, other = f"city{n + 1}-2021-Q1.txt", f"city{2 - n}-2021-Q1.txt"
        assert own in out and other not in out, out  # another office's reports are not this build's account
        assert "2 reports, 60 records read: 60 accepted, 0 quarantined, 0 failed" in out, out
    with target_for(lake).read() as con:
        assert dict(con.execute("SELECT publisher, count(*) FROM v_progress GROUP BY 1").fetchall()) == {
            CITIES[0]: 60, CITIES[1]: 60}
    check = _cli("migrate", "--check", "--warehouse", lake, cwd=tmp_path)
    assert check.returncode == 0 and "is current" in check.stdout, check.stdout + check.stderr
