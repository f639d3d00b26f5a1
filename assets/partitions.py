"""Reporting periods as Dagster partitions, added as reports for new periods arrive."""

import dagster as dg

period_partitions = dg.DynamicPartitionsDefinition(name="period")
