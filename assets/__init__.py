"""duban's Dagster layer: thin assets over the functions in ``pipelines``."""
