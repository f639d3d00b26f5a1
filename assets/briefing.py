"""Asset that writes the quarterly briefing (督查通报) pages from the published warehouse after each build."""

import hashlib
from pathlib import Path

import dagster as dg

from assets.ingest import SINGLE_RUN
from assets.partitions import period_partitions
from assets.resources import Warehouse
from assets.warehouse import v_progress
from pipelines.briefing import markdown_summary, write_briefings
from pipelines.timings import timed
from pipelines.version import pipeline_version
from schemas import schema_file

# briefings named and summarised in the asset's metadata; a build of many publishers says how many more there are
PAGES_IN_METADATA = 20


def _briefing_version() -> str:
    """The pipeline's fingerprint plus the briefing's own code and template: a changed page marks old pages stale."""
    package = Path(__file__).resolve().parent.parent / "pipelines" / "briefing"
    digest = hashlib.sha256(pipeline_version().encode())
    for path in sorted(package.glob("*.py")):
        digest.update(path.read_bytes())
    digest.update(schema_file("briefing.html.j2").encode("utf-8"))
    return digest.hexdigest()[:16]


@dg.asset(
    deps=[v_progress],
    partitions_def=period_partitions,
    backfill_policy=SINGLE_RUN,
    code_version=_briefing_version(),
    group_name="exports",
    kinds={"html"},
    # no pool: it only reads the published file, which a build replaces by an atomic rename
)
def briefing_reports(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """One HTML briefing per publisher for each of the run's periods, under warehouse/reports/<publisher>/<period>.html."""
    with timed("briefing"):
        written = write_briefings(warehouse.target, periods=list(context.partition_keys))
    directory = warehouse.target.output_dir / "reports"
    shown = written[:PAGES_IN_METADATA]  # the metadata is stored again for every partition of the run
    parts = [markdown_summary(b) for b, _ in shown]
    if len(written) > len(shown):
        parts.append(f"… and {len(written) - len(shown)} more page(s) under {directory}")
    summary = "\n\n".join(parts) or "No facts in the run's periods."
    return dg.MaterializeResult(
        metadata={
            "directory": dg.MetadataValue.path(str(directory)),
            "pages_written": dg.MetadataValue.int(len(written)),
            "pages": dg.MetadataValue.json({f"{b.publisher} {b.period_key}": str(path) for b, path in shown}),
            "summary": dg.MetadataValue.md(summary),
        }
    )
