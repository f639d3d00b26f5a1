"""duban's transformations: plain functions on polars frames, usable without Dagster."""
