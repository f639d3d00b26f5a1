"""Runs of `duban build` that died (killed, machine crash) must not hold the warehouse pool forever."""

from __future__ import annotations

import os
import socket

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

PID_TAG = "duban/pid"
HOST_TAG = "duban/host"


def run_tags() -> dict[str, str]:
    """Tags that let a later build recognise this process's runs if it dies."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark runs of dead `duban build` processes on this host as failed and free their pool slots."""
    import dagster as dg

    host = socket.gethostname()
    reaped = []
    in_flight = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    )
    for run in in_flight:
        pid = run.tags.get(PID_TAG)
        if run.tags.get(HOST_TAG) != host or pid is None or _alive(int(pid)):
            continue
        instance.report_run_failed(run, message=f"duban build process {pid} died before the run finished")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped
