"""Worker processes of a build import only the pure pipeline, never Dagster (it costs seconds to start)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import DUBAN

REPO = Path(__file__).resolve().parent.parent


def test_workers_started_by_the_duban_command_never_import_dagster(tmp_path: Path) -> None:
    # a copy of the installed `duban` entry script, which spawned workers re-run as their main module,
    # that maps a probe over worker processes the way the build's assets do (Dagster imported in the parent)
    entry = DUBAN.read_text(encoding="utf-8")
    assert "from pipelines.cli import main" in entry
    script = tmp_path / "duban_probe"
    script.write_text(
        entry.split("if __name__")[0]
        + textwrap.dedent(
            """
            if __name__ == "__main__":
                import json, os, sys
                import dagster  # the parent, like a build's run, has Dagster loaded
                os.environ["DUBAN_WORKERS"] = "2"
                from pipelines.parallel import map_chunks
                from tests.helpers.worker_modules import heavy_modules
                found = map_chunks(heavy_modules, list(range(128)), chunk_size=16)
                print(json.dumps({"parent": "dagster" in sys.modules, "workers": found}))
            """
        ),
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=REPO, timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "DUBAN_PARALLEL_MIN_ITEMS": "64"},
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["parent"] is True and len(result["workers"]) == 128
    assert all(found == [] for found in result["workers"]), result["workers"][:3]


def test_the_build_command_imports_neither_dagster_nor_pandera_until_it_has_work(tmp_path: Path) -> None:
    """A build with nothing new stops after the plan: importing Dagster (seconds) or pandera (0.15 s) would be its largest cost."""
    probe = (
        "import sys; import pipelines.commands.build, pipelines.plan, pipelines.targets, pipelines.staging, pipelines.load; "
        "print(sorted(m for m in ('dagster', 'pandera', 'pipelines.process', 'pipelines.table_rows') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
