"""Each subscriber's periods in order, for the streak stage: the rows of one subscriber together and in period order,
subscribers numbered `grp` 0, 1, 2… in that order, each period carrying two flags per definition (qualifies,
protected) in a bit set.

The order comes from sorting one 128-bit value per period: the subscriber id's 64-bit hash, then the period's offset
into the history (16 bits), a row number (32 bits) and the flags of up to eight definitions (16 bits). Sorting plain
values needs no gather and is several times faster than sorting rows by (id, date). Ids are compared by hash: two ids
with one hash would interleave, which shows as two rows of one period or as another id at a group's first or last
row; the layout is then made again with another seed."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from questline.engine.streak_rules import METRICS, StreakDef

U64 = pl.UInt64()
U128 = pl.UInt128()
TOP = pl.lit(1 << 64, U128)  # the hash sits above the low 64 bits
SPAN = 1 << 16  # periods of history a key can hold: 65,536 days (179 years)
PER_SORT = 8  # definitions whose two flags fit the key's low 16 bits
SEEDS = 4
MONDAY = 3  # 1970-01-01 (day 0) was a Thursday: day d lies in Monday-start week (d + 3) // 7

_sub = pl.col("subscriber_id")
_idx = pl.col("idx")
_row = pl.col("row")
_payload = pl.col("payload")


def days_since_epoch(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def subscriber_hash(seed: int) -> pl.Expr:
    return _sub.hash(seed)


class Collision(Exception):
    """Two subscriber ids share a hash under the current seed."""


@dataclass(frozen=True)
class Layout:
    """`frame`: grp, idx and payload, in order; `subscribers`: the id of each grp (position = grp); `slots`: each
    definition's place in the payload (bit 2i: qualifies, bit 2i + 1: protected)."""

    frame: pl.DataFrame
    subscribers: pl.Series
    slots: dict[str, int]

    def flags(self, definition: StreakDef) -> tuple[pl.Expr, pl.Expr]:
        slot = self.slots[definition.key]
        return _bit(2 * slot), _bit(2 * slot + 1)

    def named(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`frame` with its grp replaced by the subscriber id."""
        ids = self.subscribers.gather(frame.get_column("grp")).alias("subscriber_id")
        return frame.with_columns(ids).drop("grp")


def _bit(position: int) -> pl.Expr:
    return (_payload & pl.lit(1 << position, pl.UInt16)) > 0


def _payload_of(batch: list[StreakDef]) -> pl.Expr:
    bits = [
        flag.cast(pl.UInt16) * pl.lit(1 << (2 * i + k), pl.UInt16)
        for i, d in enumerate(batch)
        for k, flag in enumerate((d.qualifies(), d.protected()))
    ]
    return pl.sum_horizontal(*bits)


def _batches(definitions: list[StreakDef]) -> list[list[StreakDef]]:
    return [definitions[i : i + PER_SORT] for i in range(0, len(definitions), PER_SORT)]


def _scope(daily: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    oldest = as_of - dt.timedelta(days=SPAN - 1)
    return daily.filter(pl.col("date").is_between(oldest, as_of))


# ---- days -----------------------------------------------------------------------------------------------------------


def lay_out_days(daily: pl.LazyFrame, definitions: list[StreakDef], as_of: dt.date) -> list[Layout]:
    """The days on which a day definition qualifies or is protected: one layout per eight definitions."""
    return [_seeded(functools.partial(_order_days, daily, batch, as_of)) for batch in _batches(definitions)]


def _order_days(daily: pl.LazyFrame, batch: list[StreakDef], as_of: dt.date, seed: int) -> Layout:
    """One scan: the ids and sort keys of the days that one of the batch's definitions uses."""
    first = days_since_epoch(as_of) - SPAN + 1
    payload = _payload_of(batch)
    used = _scope(daily, as_of).filter(payload > 0).with_row_index("row")
    key = _packed(subscriber_hash(seed), pl.col("date").cast(pl.Int32) - first, _row, payload)
    frame = used.select(_sub, key).collect(engine="streaming")
    return _numbered(_unpacked(frame.get_column("key").sort(), first), frame.get_column("subscriber_id"), batch)


# ---- weeks ----------------------------------------------------------------------------------------------------------


def lay_out_weeks(daily: pl.LazyFrame, definitions: list[StreakDef], as_of: dt.date) -> list[Layout]:
    """Each subscriber's weeks (Monday to Sunday) with the totals the definitions read: one layout per eight."""
    return [_seeded(functools.partial(_order_weeks, daily, batch, as_of)) for batch in _batches(definitions)]


def _qualifies_on_nothing(definition: StreakDef) -> bool:
    """Whether a period whose metrics are all zero (or false) meets the condition, e.g. `complaints == 0`."""
    zeros = pl.DataFrame({m: [False] if METRICS[m] else [0] for m in definition.metrics})
    return bool(zeros.select(definition.qualifies()).item())


def _order_weeks(daily: pl.LazyFrame, batch: list[StreakDef], as_of: dt.date, seed: int) -> Layout:
    """Week totals by (id, week), then flagged, packed and sorted like days; `row` points into the weeks."""
    first = (days_since_epoch(as_of) + MONDAY) // 7 - SPAN + 1
    metrics = sorted({m for d in batch for m in d.metrics})
    rows = _scope(daily, as_of).select(_sub, ((pl.col("date").cast(pl.Int32) + MONDAY) // 7).alias("idx"), *metrics)
    if not any(_qualifies_on_nothing(d) for d in batch):  # rows with nothing to add change no week's flags
        rows = rows.filter(pl.any_horizontal(*(pl.col(m) if METRICS[m] else pl.col(m) != 0 for m in metrics)))
    totals = [pl.col(m).any() if METRICS[m] else pl.col(m).sum() for m in metrics]
    payload = _payload_of(batch)
    weeks = rows.group_by(_sub, _idx).agg(*totals).filter(payload > 0).with_row_index("row")
    key = _packed(subscriber_hash(seed), _idx - first, _row, payload)
    frame = weeks.select(_sub, key).collect(engine="streaming")
    return _numbered(_unpacked(frame.get_column("key").sort(), first), frame.get_column("subscriber_id"), batch)


# ---- packing and numbering ------------------------------------------------------------------------------------------


def _packed(hash_: pl.Expr, offset: pl.Expr, row: pl.Expr, payload: pl.Expr) -> pl.Expr:
    low = offset.cast(U64) * pl.lit(1 << 48, U64) + row.cast(U64) * pl.lit(1 << 16, U64) + payload.cast(U64)
    return (hash_.cast(U128) * TOP + low.cast(U128)).alias("key")


def _unpacked(keys: pl.Series, first: int) -> pl.LazyFrame:
    low = pl.col("low")
    return (
        keys.to_frame("key")
        .lazy()
        .select(
            (pl.col("key") // TOP).cast(U64).alias("hash"), pl.col("key").cast(U64, wrap_numerical=True).alias("low")
        )
        .select(
            "hash",
            (low // pl.lit(1 << 48, U64)).cast(pl.Int32).add(first).alias("idx"),
            (low // pl.lit(1 << 16, U64) % pl.lit(1 << 32, U64)).cast(pl.UInt32).alias("row"),
            (low % pl.lit(1 << 16, U64)).cast(pl.UInt16).alias("payload"),
        )
    )


def _seeded(lay_out: Callable[[int], Layout]) -> Layout:
    """The layout from the first seed under which no two ids share a hash."""
    for seed in range(SEEDS):
        try:
            return lay_out(seed)
        except Collision:
            continue
    raise RuntimeError(f"subscriber ids share a hash under each of {SEEDS} seeds")


def _numbered(ordered: pl.LazyFrame, ids: pl.Series, batch: list[StreakDef]) -> Layout:
    """Number the subscribers of rows ordered by (hash, idx); `row` points into `ids`."""
    hash_ = pl.col("hash")
    starts = (hash_ != hash_.shift(1)).fill_null(True)
    twice = (hash_ == hash_.shift(1)) & (_idx == _idx.shift(1))
    numbered = ordered.with_columns((starts.cum_sum() - 1).cast(pl.UInt32).alias("grp"), starts.alias("starts"))
    frame, first, last, clash = pl.collect_all(
        [
            numbered.select("grp", "idx", "payload"),
            numbered.filter("starts").select("row"),
            numbered.filter((hash_ != hash_.shift(-1)).fill_null(True)).select("row"),
            numbered.select(twice.any()),
        ]
    )
    if clash.item() or _differ(ids, first.to_series(), last.to_series()):
        raise Collision
    return Layout(frame, ids.gather(first.to_series()), {d.key: i for i, d in enumerate(batch)})


def _differ(ids: pl.Series, first: pl.Series, last: pl.Series) -> bool:
    return bool((ids.gather(first) != ids.gather(last)).any())
