"""Named pause points for crash-safety tests: with DUBAN_PAUSE_AT=<name> the process stops there.

The process writes <name>.reached into DUBAN_PAUSE_DIR and sleeps, so a test can kill it with SIGKILL
at a known point (pause_point), or change the raw files and let it go on (hold_point). Without
DUBAN_PAUSE_AT this is a no-op.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def pause_point(name: str) -> None:
    """Pause here forever when the environment asks for this point (tests only)."""
    if os.environ.get("DUBAN_PAUSE_AT") != name:
        return
    folder = Path(os.environ.get("DUBAN_PAUSE_DIR", "."))
    (folder / f"{name}.reached").write_text(str(os.getpid()))
    while True:
        time.sleep(1)


def hold_point(name: str) -> None:
    """Wait here until <name>.release appears in DUBAN_PAUSE_DIR, when the environment asks for this point (tests only)."""
    if os.environ.get("DUBAN_PAUSE_AT") != name:
        return
    folder = Path(os.environ.get("DUBAN_PAUSE_DIR", "."))
    (folder / f"{name}.reached").write_text(str(os.getpid()))
    while not (folder / f"{name}.release").exists():
        time.sleep(0.1)
