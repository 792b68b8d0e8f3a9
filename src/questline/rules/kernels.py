"""Whole-column building blocks for the measures: running totals within groups and runs of days in a bitmask.

Frames here are sorted by their group key, so a group is a contiguous segment. polars' `cum_sum().over(key)` takes
~130 ms on 300,000 rows in 285,000 groups (one small group at a time); these scans do the same in a few passes of
plain column arithmetic."""

from __future__ import annotations

import polars as pl

KEY = "_row"
U64_MAX = (1 << 64) - 1


def new_group(key: str = KEY) -> pl.Expr:
    """True on the first row of each group."""
    return pl.col(key).ne_missing(pl.col(key).shift(1))


def position(key: str = KEY) -> pl.Expr:
    """1, 2, 3... within each group."""
    index = pl.int_range(pl.len(), dtype=pl.Int64)
    return index - pl.when(new_group(key)).then(index).forward_fill() + 1


def running_sum(frame: pl.DataFrame, column: str, key: str = KEY) -> pl.Series:
    """The inclusive running sum of `column` within each group (Hillis-Steele doubling: log2 of the largest group
    passes). Each sum only ever adds values of its own group, so it is exact for integers and as precise as a
    pairwise sum for floats, and never overflows a mask of distinct bits."""
    if frame.height == 0:
        return frame.get_column(column)
    longest = frame.get_column(key).rle().struct.field("len").max()
    dtype = frame.schema[column]
    work = frame.select(pl.col(key), pl.col(column).alias("_sum"))
    step = 1
    while step < longest:  # type: ignore[operator]
        same = pl.col(key) == pl.col(key).shift(step)
        earlier = pl.when(same).then(pl.col("_sum").shift(step)).otherwise(pl.lit(0, dtype=dtype))
        work = work.with_columns(pl.col("_sum") + earlier)
        step *= 2
    return work.get_column("_sum").alias(column)


def bit(day: pl.Expr) -> pl.Expr:
    """2**day as a UInt64 mask (day 0-63); exact, as powers of two are exact in a float."""
    return (pl.lit(2.0) ** day).cast(pl.UInt64)


def low_bits(count: pl.Expr) -> pl.Expr:
    """A mask of the lowest `count` bits (0-64)."""
    return pl.when(count >= 64).then(pl.lit(U64_MAX, dtype=pl.UInt64)).otherwise(bit(count.clip(0, 63)) - 1)


def longest_run(masks: pl.Series) -> pl.Series:
    """The longest run of consecutive set bits in each mask: peel one day off every run per pass until none is left
    (at most 64 passes, each a whole-column operation)."""
    runs = masks.fill_null(0).cast(pl.UInt64)
    longest = pl.Series(masks.name, [0] * len(masks), dtype=pl.UInt32)
    while runs.len() and runs.max():
        longest = longest + (runs != 0).cast(pl.UInt32)
        runs = runs & (runs // 2)
    return longest


def has_run(masks: pl.Series, lengths: pl.Series) -> pl.Series:
    """Whether each mask holds a run of at least `lengths` consecutive set bits (lengths above 64 never hold)."""
    frame = pl.DataFrame({"runs": masks.fill_null(0).cast(pl.UInt64), "length": lengths.ceil().cast(pl.Int64)})
    for k in range(1, 64):  # after pass k, a set bit starts a run of at least k + 1 days
        if not frame.filter(pl.col("length") > k, pl.col("runs") != 0).height:
            break
        shrink = pl.col("runs") & (pl.col("runs") // 2)
        frame = frame.with_columns(runs=pl.when(pl.col("length") > k).then(shrink).otherwise(pl.col("runs")))
    return ((frame.get_column("runs") != 0) & (frame.get_column("length") <= 64)).alias("has_run")
