"""Per-subscriber features over 7/30/90-day windows of the daily table, ending at `as_of` inclusive (local dates).

Sums per subscriber and age bucket - 0-6, 7-29, 30-59, 60-89 days; dates only for older days - each bucket read
from the lake a few days at a time, streamed, so that the table is never held whole; then the buckets joined side by
side, every window being a sum of adjacent buckets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import polars as pl

from questline.scoring.daily import EVENT_TYPE_BITS, most_frequent

WINDOWS = (7, 30, 90)
SUMMED = (
    "voice_s", "voice_calls", "sms", "data_bytes", "recharge_amount", "recharge_count", "bundle_amount",
    "bundle_count", "payment_amount", "payment_count", "payments_on_time", "app_logins", "app_events",
    "features_used", "content_views", "shares", "referrals", "complaints", "dropped_calls", "outage_s", "revenue",
)  # fmt: skip
TRENDED = ("voice_s", "data_bytes", "revenue", "app_events", "active_days")
RECENCY_CAP = 365
HOME_DAYS = 7  # a subscriber's home cell is the one of most of these days: recent, and cheap to find at 1M
# Upper age (exclusive) of each bucket; the last bucket holds everything older.
BUCKET_ENDS = (7, 30, 60, 90)
# Days of the daily table aggregated per streaming pass; a pass holds its rows (~0.1 GB a day at 1M subscribers).
PASS_DAYS = 15
OLDER_PASS_DAYS = 60  # older days need four narrow columns, not thirty
# Daily columns the features read (all the bench's synthetic table needs).
INPUTS = (
    "subscriber_id", "date", *SUMMED, "recharge_digital_count", "port_out_requests", "deactivations",
    "activations", "active", "plan", "features", "event_types", "home_cell",
)  # fmt: skip
_EXTRA_SUMS = ("recharge_digital_count", "port_out_requests", "deactivations", "active_days", "app_active_days")
_SUMS = (*SUMMED, *_EXTRA_SUMS)
# Aggregations that are their own merge, like the sums: the results of several passes combine the same way.
_DATES = (pl.col("first_day").min(), pl.col("last_active").max(), pl.col("first_activation").min())
assert len(EVENT_TYPE_BITS) <= 32, "event_types is a 32-bit set"


@dataclass(frozen=True)
class Feature:
    name: str
    definition: str
    window: str


def _catalogue() -> tuple[Feature, ...]:
    sums = [Feature(f"{m}_{w}d", f"sum of daily `{m}`", f"{w} d") for m in SUMMED for w in WINDOWS]
    days = [
        Feature(f"{name}_{w}d", definition, f"{w} d")
        for name, definition in (
            ("active_days", "days with `active`"),
            ("app_active_days", "days with any app event"),
        )
        for w in WINDOWS
    ]
    trends = [
        Feature(f"trend_{m}", f"ln((`{m}` last 30 d + 1) / (`{m}` the 30 d before + 1))", "2 × 30 d") for m in TRENDED
    ]
    return (
        *sums,
        *days,
        *trends,
        Feature("recency_days", f"days since the last active day (capped at {RECENCY_CAP})", "all history"),
        Feature("distinct_features_30d", "distinct app features used", "30 d"),
        Feature("variety_30d", "distinct event types seen", "30 d"),
        Feature("digital_share_30d", "digital top-ups / top-ups (null without top-ups)", "30 d"),
        Feature("on_time_ratio_90d", "on-time bill payments / bill payments (null without payments)", "90 d"),
        Feature("churn_signals_30d", "port-out requests + deactivations", "30 d"),
        Feature("tenure_days", "days since the first activation, else since the first day seen", "all history"),
        Feature("plan", "the latest plan seen (activation or plan change)", "all history"),
        Feature("home_cell", "the daily `home_cell` of the most days (of equals, the smallest id)", f"{HOME_DAYS} d"),
        Feature("days_observed", "days of daily history up to as_of (same for all; tells new from dormant)", "all"),
    )


FEATURES: tuple[Feature, ...] = _catalogue()


def features(daily: pl.LazyFrame, as_of: dt.date) -> pl.DataFrame:
    """One row per subscriber with a daily row in the 90 days up to `as_of`, or activated on or before it."""
    daily = daily.select(INPUTS)
    history = daily.filter(pl.col("date") <= as_of)
    table_start = history.select(pl.col("date").min()).collect().item()
    observed = (as_of - table_start).days + 1 if table_start is not None else 0
    buckets = [_bucket(daily, as_of, lo, hi) for lo, hi in pairwise((0, *BUCKET_ENDS))]
    older = _older(daily, as_of, table_start)
    result = (
        _by_subscriber(buckets, older, as_of)
        .join(_distinct_features(history, as_of), on="subscriber_id", how="left")
        .join(_latest_plan(history), on="subscriber_id", how="left")
        .join(_home_cell(daily, as_of).lazy(), on="subscriber_id", how="left")
        .with_columns(
            pl.col("distinct_features_30d").fill_null(0),
            pl.lit(observed, pl.Int32).alias("days_observed"),
        )
    )
    return result.select("subscriber_id", *(f.name for f in FEATURES)).sort("subscriber_id").collect()


def _days(daily: pl.LazyFrame, as_of: dt.date, lo: int, hi: int) -> pl.LazyFrame:
    """Rows aged lo to hi - 1 days: whole date partitions of the lake, pruned before reading."""
    first, last = as_of - dt.timedelta(days=hi - 1), as_of - dt.timedelta(days=lo)
    return daily.filter(pl.col("date").is_between(first, last))


def _passes(lo: int, hi: int, days: int) -> list[tuple[int, int]]:
    """Ages [lo, hi) in as few passes of at most `days` as possible, of even length."""
    count = -(-(hi - lo) // days)
    return list(pairwise(lo + (hi - lo) * i // count for i in range(count + 1)))


def _bucket(daily: pl.LazyFrame, as_of: dt.date, lo: int, hi: int) -> pl.DataFrame:
    """Per subscriber, the sums and dates of the age bucket [lo, hi), and the event types seen if it lies in the
    30-day window. Computed PASS_DAYS at a time: the streaming group-by buffers every row it is given when ids
    hardly repeat (a subscriber appears once a day), so memory follows the days per pass, not the whole table."""
    # Plain aggregations of precomputed columns stay on polars' fast path; filtered ones inside `agg` do not.
    counted = (
        pl.col("active").cast(pl.UInt32).alias("active_days"),
        (pl.col("app_events") > 0).cast(pl.UInt32).alias("app_active_days"),
    )
    aggregations = [pl.col(*_SUMS).sum(), *([pl.col("event_types").bitwise_or()] if hi <= WINDOWS[1] else []), *_DATES]
    passes = [
        _days(daily, as_of, start, end).with_columns(*counted, *_dated()).group_by("subscriber_id").agg(*aggregations)
        for start, end in _passes(lo, hi, PASS_DAYS)
    ]
    return _combine(passes, aggregations)


def _older(daily: pl.LazyFrame, as_of: dt.date, table_start: dt.date | None) -> pl.DataFrame | None:
    """For the history before the 90 days, dates only: first day seen, last active day, first activation."""
    oldest = (as_of - table_start).days + 1 if table_start is not None else 0
    if oldest <= BUCKET_ENDS[-1]:
        return None
    passes = [
        _days(daily, as_of, start, end).select("subscriber_id", *_dated()).group_by("subscriber_id").agg(*_DATES)
        for start, end in _passes(BUCKET_ENDS[-1], oldest, OLDER_PASS_DAYS)
    ]
    return _combine(passes, _DATES)


def _dated() -> tuple[pl.Expr, ...]:
    return (
        pl.col("date").alias("first_day"),
        pl.when(pl.col("active")).then(pl.col("date")).alias("last_active"),
        pl.when(pl.col("activations") > 0).then(pl.col("date")).alias("first_activation"),
    )


def _combine(passes: list[pl.LazyFrame], aggregations: Sequence[pl.Expr]) -> pl.DataFrame:
    done = [frame.collect(engine="streaming") for frame in passes]
    if len(done) == 1:
        return done[0]
    return pl.concat(done).lazy().group_by("subscriber_id").agg(*aggregations).collect()


def _by_subscriber(buckets: list[pl.DataFrame], older: pl.DataFrame | None, as_of: dt.date) -> pl.LazyFrame:
    """Each bucket's sums joined side by side; windows are then additions of adjacent buckets. Cheaper than a
    group-by over every windowed column: polars' group-by cost grows with the number of aggregated columns."""
    lifetime = _lifetime(buckets, older).with_columns(pl.col("subscriber_id").hash().alias("_key")).collect()
    # Joining on a 64-bit hash of the id is ~2x faster than on the string; exact unless two ids collide, checked.
    key = "_key" if lifetime.get_column("_key").n_unique() == lifetime.height else "subscriber_id"
    wide = lifetime.lazy()
    for k, bucket in enumerate(buckets):
        sums = bucket.lazy().select(
            pl.col("subscriber_id").hash().alias("_key") if key == "_key" else key, *_renamed(k)
        )
        wide = wide.join(sums, on=key, how="left")
    return wide.with_columns(*_windows()).with_columns(*_derived(as_of))


def _lifetime(buckets: list[pl.DataFrame], older: pl.DataFrame | None) -> pl.LazyFrame:
    """The population (seen in the 90 days, or activated) with its event types of the 30-day window and its dates."""
    spans = [_span(b, seen=True) for b in buckets] + ([_span(older, seen=False)] if older is not None else [])
    return (
        pl.concat(spans)
        .group_by("subscriber_id")
        .agg(pl.col("event_types").bitwise_or().alias("types_30d"), pl.col("seen_90d").any(), *_DATES)
        .filter(pl.col("seen_90d") | pl.col("first_activation").is_not_null())
    )


def _span(frame: pl.DataFrame, *, seen: bool) -> pl.LazyFrame:
    # Buckets outside the 30-day window carry no event types.
    types = pl.col("event_types") if "event_types" in frame.columns else pl.lit(0, pl.UInt32).alias("event_types")
    dates = ("first_day", "last_active", "first_activation")
    return frame.lazy().select("subscriber_id", types, pl.lit(seen).alias("seen_90d"), *dates)


def _renamed(k: int) -> list[pl.Expr]:
    return [pl.col(m).alias(f"{m}@{k}") for m in _SUMS]


def _windows() -> list[pl.Expr]:
    def over(m: str, ks: range) -> pl.Expr:
        return pl.sum_horizontal(*(pl.col(f"{m}@{k}").fill_null(0) for k in ks))

    # Bucket k covers ages [BUCKET_ENDS[k-1], BUCKET_ENDS[k]): 7 d is bucket 0, 30 d buckets 0-1, 90 d buckets 0-3.
    last = {w: BUCKET_ENDS.index(w) + 1 for w in WINDOWS}
    sums = [over(m, range(last[w])).alias(f"{m}_{w}d") for m in _SUMS for w in WINDOWS]
    previous = [over(m, range(2, 3)).alias(f"{m}_prev30d") for m in TRENDED]
    return [*sums, *previous]


def _derived(as_of: dt.date) -> list[pl.Expr]:
    def ratio(part: str, whole: str) -> pl.Expr:
        return pl.when(pl.col(whole) > 0).then(pl.col(part) / pl.col(whole))

    def days_since(column: str) -> pl.Expr:
        return (pl.lit(as_of) - pl.col(column)).dt.total_days().cast(pl.Int32)

    trends = [
        ((pl.col(f"{m}_30d") + 1).cast(pl.Float64) / (pl.col(f"{m}_prev30d") + 1)).log().alias(f"trend_{m}")
        for m in TRENDED
    ]
    return [
        *trends,
        days_since("last_active").clip(upper_bound=RECENCY_CAP).fill_null(RECENCY_CAP).alias("recency_days"),
        pl.col("types_30d").fill_null(0).bitwise_count_ones().cast(pl.Int32).alias("variety_30d"),
        ratio("recharge_digital_count_30d", "recharge_count_30d").alias("digital_share_30d"),
        ratio("payments_on_time_90d", "payment_count_90d").alias("on_time_ratio_90d"),
        (pl.col("port_out_requests_30d") + pl.col("deactivations_30d")).alias("churn_signals_30d"),
        days_since("first_activation").fill_null(days_since("first_day")).alias("tenure_days"),
    ]


def _distinct_features(history: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    recent = history.filter(pl.col("date") > as_of - dt.timedelta(days=30), pl.col("features").list.len() > 0)
    return (
        recent.select("subscriber_id", "features")
        .explode("features")
        .group_by("subscriber_id")
        .agg(pl.col("features").n_unique().cast(pl.Int32).alias("distinct_features_30d"))
    )


def _latest_plan(history: pl.LazyFrame) -> pl.LazyFrame:
    known = history.filter(pl.col("plan").is_not_null())
    return known.group_by("subscriber_id").agg(pl.col("plan").max_by("date"))


def _home_cell(daily: pl.LazyFrame, as_of: dt.date) -> pl.DataFrame:
    """Collected on its own: in the plan of the other features, polars merges its scan with theirs and then reads
    the cells of all 90 days (doubling the peak memory at 1M subscribers)."""
    recent = daily.filter(pl.col("date").is_between(as_of - dt.timedelta(days=HOME_DAYS - 1), as_of))
    days = recent.drop_nulls("home_cell").group_by("subscriber_id", "home_cell").agg(pl.len().alias("days"))
    return most_frequent(days, "subscriber_id", "home_cell", "days").collect()
