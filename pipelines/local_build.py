"""The build without Dagster: the same steps the assets run, in one process (for tests, benchmarks and scripts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipelines.manifest import scan_raw
from pipelines.period_load import load_periods
from pipelines.plan import periods_to_build
from pipelines.staging import process_staged, stage_files
from pipelines.targets import Target, target_for


@dataclass
class LocalBuild:
    """What a build did: per period, each file's outcome or failure, and the files refused at the scan."""

    outcomes: dict[str, dict[str, str]] = field(default_factory=dict)
    failures: dict[str, dict[str, str]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


def build_locally(raw_dir: Path, published: Path | str | Target, everything: bool = False) -> LocalBuild:
    """Bring the warehouse (a file, or a target) in line with raw_dir as `duban build` does (scan, plan, stage, process, load, publish)."""
    target = target_for(published)
    staging = target.staging(raw_dir)
    states, _ = scan_raw(raw_dir, {}, staging.root)
    result = LocalBuild(refused={name: s.error for name, s in states.items() if s.error})
    plan = periods_to_build(states, target, everything)
    if not plan:
        return result
    for period, names in plan.items():
        staged = stage_files([(str(raw_dir), name, str(staging.root), [period]) for name in names])
        staging.write_period(period, [key for _, key, _, error in staged if key and not error])
    keys = [key for period in plan for key in staging.read_period(period)]
    process_staged([(str(staging.root), key) for key in keys if not staging.has_processed(key)])

    def load(con) -> None:
        result.outcomes.clear()
        result.failures.clear()  # a lake runs this again after a conflict
        read = lambda p: staging.read_processed(staging.read_period(p))
        sizes = {p: len(staging.read_period(p)) for p in plan}
        for period, done in load_periods(con, list(plan), read, sizes, target.scoped()):
            result.outcomes[period] = done.outcomes
            result.failures[period] = done.failures

    target.write(load, print, {"run_id": None, "periods": list(plan), "reports": sorted(n for names in plan.values() for n in names)})
    return result
