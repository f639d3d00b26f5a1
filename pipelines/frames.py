"""Put several frames (one per report) into one, each row keyed by the frame it came from."""

from __future__ import annotations

from typing import Sequence

import polars as pl


def keyed_concat(frames: Sequence[pl.DataFrame], keys: pl.Series) -> pl.DataFrame:
    """The frames one under the other (types relaxed to a common one), with a column keys.name holding
    keys[i] on every row of frames[i] (grain: one row per row of the frames)."""
    heights = pl.Series([frame.height for frame in frames], dtype=pl.Int64)
    return pl.concat(frames, how="vertical_relaxed").with_columns(keys.repeat_by(heights).explode())
