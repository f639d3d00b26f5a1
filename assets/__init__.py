"""duban's Dagster layer: thin assets over the functions in ``pipelines``."""

import warnings

import dagster as dg

# Single-run backfills (BackfillPolicy) are marked beta; duban relies on them deliberately.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
