"""`duban dev`: the Dagster UI on duban's workspace and Dagster home, from any folder."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pipelines.commands.output import say
from pipelines.instance import STORAGE_ENV, dagster_home, setting_up_instance


def workspace_file() -> Path:
    """The repository's workspace.yaml, found from the installed package (so `duban dev` works from any folder)."""
    import pipelines

    return Path(pipelines.__file__).resolve().parent.parent / "workspace.yaml"


def dev(host: str, port: int, extra: list[str], instance: str | None = None) -> int:
    """Start `dagster dev` on this project with duban's Dagster home, so `duban build` runs show up."""
    if instance:
        os.environ[STORAGE_ENV] = instance  # dagster.yaml reads it from the environment: no password on disk
    home = dagster_home()
    if os.environ.get(STORAGE_ENV, "").strip():
        with setting_up_instance() as ready:  # create the shared tables now, one host at a time
            ready.dispose()
    dagster = str(Path(sys.executable).with_name("dagster"))
    if not Path(dagster).exists():
        dagster = shutil.which("dagster") or dagster
    workspace = workspace_file()
    if extra[:1] == ["--"]:
        extra = extra[1:]
    say(f"duban: DAGSTER_HOME={home}")
    if os.environ.get(STORAGE_ENV, "").strip():
        say(f"duban: runs and events in PostgreSQL ({STORAGE_ENV})")
    say(f"duban: Dagster UI at http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port} (workspace {workspace})")
    os.execv(dagster, [dagster, "dev", "-w", str(workspace), "-h", host, "-p", str(port), *extra])
    return 0  # not reached


