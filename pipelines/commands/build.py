"""`duban build`: scan the raw folder, plan which periods to build, run the asset graph and summarise."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pipelines import timings

from pipelines.commands.output import json_mode, say
from pipelines.instance import dagster_home, setting_up_instance
from pipelines.normalise import status_words
from pipelines.parallel import workers
from pipelines.manifest import FileState, files_by_period, load_states, save_states, scan_raw

from pipelines.plan import failed_reports, migrations_due, periods_to_build, removed_files, stale_reports
from pipelines.limits import check_limits
from pipelines.printable import printable
from pipelines.progress import interval, stage, stop_display, terminal
from pipelines.runs import reap_dead_runs, run_tags
from pipelines.settings import configured_paths
from pipelines.targets import Target, target_for
from pipelines.summary import (
    TABLE_LIMIT, format_table, quarantine_by_reason, report_rows, scaled_summary, totals, totals_line, write_report_file,
)
from pipelines.version import pipeline_version

def _scan(raw_dir: Path, warehouse: Target) -> tuple[dict[str, FileState], list[str], list[str], list[str]]:
    """The state of every file under raw_dir (only changed files are read), the refusals as messages, the junk
    skipped and the files the previous scan of this folder had that are gone."""
    cache = warehouse.manifest_path(raw_dir)
    cache.parent.mkdir(parents=True, exist_ok=True)
    previous, warning = load_states(cache)
    if warning:
        say(f"duban: {warning}")
    with stage("scan", None, "files") as progress:  # staged: the run reads them once
        states, changes = scan_raw(raw_dir, previous, warehouse.work_dir / "staging", progress=progress.update)
    for name in changes.skipped:
        say(f"  skipped {printable(raw_dir / name)}: not a report (a lock, thumbnail, backup or system file)")
    if states != previous or warning:  # a damaged manifest is replaced even when the folder is empty
        save_states(cache, states)
    refused = [f"{printable(raw_dir / name)}: {printable(state.error)}" for name, state in sorted(states.items()) if state.error]
    return states, refused, changes.skipped, changes.removed


def _interrupted(result) -> bool:
    """Whether Dagster stopped the run for a Ctrl-C: it catches the signal and fails the running step instead."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            if error is not None and error.cls_name == "DagsterExecutionInterruptedError":
                return True
    return False


def build(
    raw: str | None,
    warehouse: str | None,
    verbose: bool = False,
    everything: bool = False,
    as_json: bool = False,
    report_file: str | None = None,
    show_timings: bool = False,
    data_path: str | None = None,
) -> int:
    """Materialize the asset graph for every period found under the raw directory; returns the exit status.

    One build at a time per warehouse: a second one waits for the first (a lock in the warehouse's .work
    folder, taken before anything is read or Dagster's instance is opened). Problems with the warehouse
    file, its folder or DAGSTER_HOME are raised as DubanError before anything is written.
    Progress goes to stderr; the summary to stdout, or with as_json one JSON document (messages to stderr).
    With show_timings the seconds spent per stage follow the summary (the JSON document always has them).
    """
    default_raw, _ = configured_paths()
    raw_dir = Path(raw or default_raw).resolve()
    target = target_for(warehouse, data_path)
    json_mode(as_json)
    if not raw_dir.is_dir():
        message = f"raw directory {raw_dir} does not exist; create it or pass --raw DIR"
        say(f"duban: {message}")
        if as_json:
            print(json.dumps({"exit_status": 2, "error": message}, ensure_ascii=False), flush=True)
        return 2
    timings.reset()
    status_words()  # a contradictory schemas/status_words.toml stops the build before anything is read
    workers()  # so does a DUBAN_WORKERS that is not a number
    check_limits()  # and a DUBAN_MAX_* limit or DUBAN_PROGRESS_SECONDS that is not one
    interval()
    with target.build_lock(say):
        target.check_readable()
        with terminal():
            status, document = _build_locked(raw_dir, target, verbose, everything)
    document["timings"] = timings.account(timings.since_process_start(), document.pop("run_seconds"))
    if show_timings:
        say("")
        for line in timings.format_account(document["timings"]):
            say(line)
    if report_file:
        write_report_file(Path(report_file), document["reports"])
    if as_json:
        print(json.dumps(document, ensure_ascii=False, indent=1, default=str), flush=True)
    return status

def _build_locked(raw_dir: Path, target: Target, verbose: bool, everything: bool) -> tuple[int, dict]:
    """Scan, plan, run and summarise; returns the exit status and the build's account (the --json document)."""
    say(f"duban: reading reports under {raw_dir}")
    states, refused, skipped, gone = _scan(raw_dir, target)
    for message in refused:
        say(f"  refused {message}")
    by_period = periods_to_build(states, target, everything, gone)
    for step in migrations_due(target):
        say(f"duban: migrating the warehouse: {step}")
    target.before_build(say, bool(by_period))
    order: list[str] = []
    dagster_home()  # an unusable DAGSTER_HOME is said on every build, even one with nothing to do
    if by_period:  # nothing to build: Dagster is not even imported
        with timings.timed("dagster start-up"), setting_up_instance() as instance:
            from assets.partitions import period_partitions

            for run_id in reap_dead_runs(instance):
                say(f"duban: run {run_id} of a build that died was marked failed and its warehouse slot freed")
            known = instance.get_dynamic_partitions(period_partitions.name)
            new = [key for key in by_period if key not in known]
            if new:
                instance.add_dynamic_partitions(period_partitions.name, new)
            order = instance.get_dynamic_partitions(period_partitions.name)
    if by_period:
        # a run covers a range of partitions: every period in it is brought in line with its complete file list
        positions = sorted(order.index(key) for key in by_period)
        current = files_by_period(states)
        for key in order[positions[0] : positions[-1] + 1]:
            by_period.setdefault(key, current.get(key, []))
    unchanged = sum(len(files) for files in files_by_period(states).values()) - sum(map(len, by_period.values()))
    if unchanged:
        say(f"duban: {unchanged} report(s) already in the warehouse and unchanged")
    still_failed = failed_reports(target, list(by_period), list(states))
    for source_file, error in still_failed:
        say(f"  failed {printable(source_file)} (unchanged since an earlier build): {error}")
    removed = []
    for source_file, leaves in removed_files(states, target, gone):
        if leaves:
            removed.append(source_file)
            say(f"  removed {printable(source_file)}: no longer under the raw directory; its reports leave the warehouse")
        else:
            say(f"  removed {printable(source_file)}: no longer under the raw directory; on a DuckLake shared by many "
                "builds its report stays (no file of its publisher's period is left here to rebuild it from)")
    failed_runs: list[str] = []
    changed: dict[str, str] = {}  # files gone or changed between the scan and the run's read
    outcomes: dict[str, str] = {}
    run_id = None
    run_seconds = None
    retried = 0
    not_loaded: list[str] = []  # files of a run that failed before anything was published
    stale = stale_reports(target)
    if stale:
        say(f"duban: {stale} report(s) were derived by another version of duban's code; re-deriving them (pipeline {pipeline_version()})")
    if by_period:
        with timings.timed("dagster start-up"):
            from assets.definitions import BUILD_JOB, make_definitions
            from assets.ingest import changed_files
            from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

            job = make_definitions(raw_dir, target.spec, target.data_path).resolve_job_def(BUILD_JOB)
        first, last = order[positions[0]], order[positions[-1]]
        files = [name for names in by_period.values() for name in names]
        say(
            f"duban: building {len(by_period)} period(s) ({', '.join(by_period)}) from {len(files)} file(s) in one run"
        )
        run_started = time.monotonic()
        result = job.execute_in_process(
            instance=instance,
            run_config={
                "ops": {"raw_reports": {"config": {"files": files, "periods_of": {f: states[f].period_key for f in files}}}},
                "loggers": {"console": {"config": {"log_level": "DEBUG" if verbose else "WARNING", "one_line_failures": not verbose}}},
            },
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last, **run_tags()},
            raise_on_error=False,
        )
        run_seconds = time.monotonic() - run_started
        if not result.success and _interrupted(result):
            raise KeyboardInterrupt  # Dagster failed the run for a Ctrl-C: say so in one line, as outside the run
        changed = changed_files(result)
        run_id = result.run_id
        if not result.success:
            failed_runs.append(result.run_id)
            say(f"  run {result.run_id} failed; `duban build --verbose` or `duban dev` (Dagster UI) shows its log")
            if "star_schema" not in {event.step_key for event in result.get_step_success_events()}:
                not_loaded = [name for name in files if name not in changed]  # the run published nothing
        else:
            outcomes = _report_outcomes(result)
            retried = _lake_retries(result)
    stop_display()
    # on a lake other offices' reports share the periods: the account is of this folder's files only
    rows = report_rows(target, list(by_period), {n: s.sha256 for n, s in states.items()} if target.scoped() else None)
    if not_loaded:  # the warehouse still holds what it had: this build's account must not claim those reports
        rows = [r for r in rows if r["source_file"] not in set(not_loaded)]
    for r in rows:
        if outcomes.get(r["source_file"]) == "re-derived" and r["status"] == "loaded":
            r["status"] = "re-derived"
    if rows and (verbose or len(rows) <= TABLE_LIMIT):
        table = [
            [r["publisher"], r["period_key"], r["records_read"], r["accepted"], r["quarantined"], r["status"], r["source_file"]]
            for r in rows
        ]
        say("")
        say(format_table(["publisher", "period", "read", "accepted", "quarantined", "status", "file"], table))
    reasons = quarantine_by_reason(target, [r["source_file"] for r in rows])
    if rows:
        say("")
        for line in scaled_summary(rows, reasons):
            say(line)
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed:
        say(f"  failed {printable(r['source_file'])}: {printable(r['error'])}")
    for name, reason in changed.items():
        say(f"  failed {printable(name)}: {printable(reason)}")
    for name in not_loaded:
        say(f"  not loaded {name}: the run failed before loading it; the warehouse keeps what it had")
    say(f"\nduban: warehouse {target}")
    total = totals(rows)
    rederived = sum(r["status"] == "re-derived" for r in rows)
    say(f"duban: {totals_line(total)}" + (f", {rederived} re-derived" if rederived else ""))
    if retried:
        say(f"duban: {retried} commit(s) conflicted with other writers of the DuckLake and were run again; committed once, whole")
    failed_reports_now = len(failed) + len(still_failed) + len(changed) + len(not_loaded)
    problems = len(refused) + failed_reports_now + len(failed_runs)
    if problems:
        say(f"duban: {problems} problem(s): {len(refused)} file(s) refused, {failed_reports_now} report(s) failed, {len(failed_runs)} run(s) failed")
    document = {
        "warehouse": str(target),
        "raw": str(raw_dir),
        "run_id": run_id,
        "failed_run_ids": failed_runs,
        "pipeline_version": pipeline_version(),
        "exit_status": 1 if problems else 0,
        "periods_built": list(by_period),
        "totals": {**total, "re_derived": rederived, "unchanged_elsewhere": unchanged, "refused_files": len(refused)},
        "reports": [
            {**r, "outcome": outcomes.get(r["source_file"], r["status"]) if r["status"] != "failed" else "failed"}
            for r in rows
        ],
        "quarantine_by_reason": [{"reason": reason, "records": n, "reports": k} for reason, n, k in reasons],
        "refused": refused,
        "skipped": skipped,
        "failed_unchanged": [{"source_file": f, "error": e} for f, e in still_failed],
        "changed_during_build": [{"source_file": f, "error": e} for f, e in changed.items()],
        "removed": removed,
        "not_loaded": not_loaded,
        "lake_commit_retries": retried,
        "run_seconds": run_seconds,
    }
    return (1 if problems else 0), document

def _lake_retries(result) -> int:
    """How many times the run's DuckLake commit conflicted with another writer's and was run again."""
    for materialization in result.asset_materializations_for_node("star_schema"):
        if materialization.asset_key.path == ["dim_report"] and "lake_commit_retries" in materialization.metadata:
            return materialization.metadata["lake_commit_retries"].value
    return 0


def _report_outcomes(result) -> dict[str, str]:
    """source_file → what the load did with it ('loaded', 're-derived', 'unchanged' …), from the run's
    all_reports_loaded check (stored once a run; a materialization's metadata is repeated for every partition)."""
    outcomes: dict[str, str] = {}
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.check_name == "all_reports_loaded" and "reports" in evaluation.metadata:
            outcomes.update(evaluation.metadata["reports"].value)
    return outcomes

