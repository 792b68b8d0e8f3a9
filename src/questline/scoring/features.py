"""Per-subscriber features over 7/30/90-day windows of the daily table, ending at `as_of` inclusive (local dates).

Two group-bys instead of one join per window: first per (subscriber, age bucket) - 0-6, 7-29, 30-59, 60-89 days
and older - then per subscriber, where every window is a conditional sum over at most five bucket rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from questline.scoring.daily import EVENT_TYPE_BITS

WINDOWS = (7, 30, 90)
SUMMED = (
    "voice_s", "voice_calls", "sms", "data_bytes", "recharge_amount", "recharge_count", "bundle_amount",
    "bundle_count", "payment_amount", "payment_count", "payments_on_time", "app_logins", "app_events",
    "features_used", "content_views", "shares", "referrals", "complaints", "dropped_calls", "outage_s", "revenue",
)  # fmt: skip
TRENDED = ("voice_s", "data_bytes", "revenue", "app_events", "active_days")
RECENCY_CAP = 365
# Upper age (exclusive) of each bucket; the last bucket holds everything older.
BUCKET_ENDS = (7, 30, 60, 90)
FUTURE = 255
# Daily columns the features read (all the bench's synthetic table needs).
INPUTS = (
    "subscriber_id", "date", *SUMMED, "recharge_digital_count", "port_out_requests", "deactivations",
    "activations", "active", "plan", "features", "event_types",
)  # fmt: skip
_EXTRA_SUMS = ("recharge_digital_count", "port_out_requests", "deactivations", "active_days", "app_active_days")
_SUMS = (*SUMMED, *_EXTRA_SUMS)
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
        Feature("days_observed", "days of daily history up to as_of (same for all; tells new from dormant)", "all"),
    )


FEATURES: tuple[Feature, ...] = _catalogue()


def features(daily: pl.LazyFrame, as_of: dt.date) -> pl.DataFrame:
    """One row per subscriber with a daily row in the 90 days up to `as_of`, or activated on or before it."""
    daily = daily.select(INPUTS)
    history = daily.filter(pl.col("date") <= as_of)
    buckets = _by_bucket(daily, as_of).collect()
    table_start = history.select(pl.col("date").min()).collect().item()
    observed = (as_of - table_start).days + 1 if table_start is not None else 0
    result = (
        _by_subscriber(buckets, as_of)
        .join(_distinct_features(history, as_of), on="subscriber_id", how="left")
        .join(_latest_plan(history), on="subscriber_id", how="left")
        .with_columns(
            pl.col("distinct_features_30d").fill_null(0),
            pl.lit(observed, pl.Int32).alias("days_observed"),
        )
    )
    return result.select("subscriber_id", *(f.name for f in FEATURES)).sort("subscriber_id").collect()


def _by_bucket(daily: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """Rows after as_of land in bucket FUTURE, which the next stage ignores: cheaper than filtering (a full copy)."""
    age = (pl.lit(as_of) - pl.col("date")).dt.total_days()
    bucket = pl.lit(len(BUCKET_ENDS), pl.UInt8)
    for i, end in reversed(list(enumerate(BUCKET_ENDS))):
        bucket = pl.when(age < end).then(pl.lit(i, pl.UInt8)).otherwise(bucket)
    bucket = pl.when(age < 0).then(pl.lit(FUTURE, pl.UInt8)).otherwise(bucket)
    # Plain aggregations of precomputed columns stay on polars' fast path; filtered ones inside `agg` do not.
    return (
        daily.with_columns(
            pl.col("active").cast(pl.UInt32).alias("active_days"),
            (pl.col("app_events") > 0).cast(pl.UInt32).alias("app_active_days"),
            pl.when(pl.col("active")).then(pl.col("date")).alias("last_active"),
            pl.when(pl.col("activations") > 0).then(pl.col("date")).alias("first_activation"),
        )
        .group_by("subscriber_id", bucket.alias("bucket"))
        .agg(
            pl.col(*_SUMS).sum(),
            pl.col("event_types").bitwise_or(),
            pl.col("date").min().alias("first_day"),
            pl.col("last_active").max(),
            pl.col("first_activation").min(),
        )
    )


def _by_subscriber(buckets: pl.DataFrame, as_of: dt.date) -> pl.LazyFrame:
    """Each bucket's sums joined side by side; windows are then additions of adjacent buckets. Cheaper than a
    group-by over every windowed column: polars' group-by cost grows with the number of aggregated columns."""
    bucket = pl.col("bucket")
    past = bucket != FUTURE
    lifetime = (
        buckets.lazy()
        .group_by("subscriber_id")
        .agg(
            pl.when(bucket <= 1).then(pl.col("event_types")).otherwise(0).bitwise_or().alias("types_30d"),
            (bucket < len(BUCKET_ENDS)).any().alias("seen_90d"),
            pl.when(past).then(pl.col("first_day")).min().alias("first_day"),
            pl.when(past).then(pl.col("last_active")).max().alias("last_active"),
            pl.when(past).then(pl.col("first_activation")).min().alias("first_activation"),
        )
        .filter(pl.col("seen_90d") | pl.col("first_activation").is_not_null())
        .with_columns(pl.col("subscriber_id").hash().alias("_key"))
        .collect()
    )
    # Joining on a 64-bit hash of the id is ~2x faster than on the string; exact unless two ids collide, checked.
    key = "_key" if lifetime.get_column("_key").n_unique() == lifetime.height else "subscriber_id"
    wide = lifetime.lazy()
    for k in range(len(BUCKET_ENDS)):
        sums = buckets.lazy().filter(bucket == k)
        sums = sums.select(pl.col("subscriber_id").hash().alias("_key") if key == "_key" else key, *_renamed(k))
        wide = wide.join(sums, on=key, how="left")
    return wide.with_columns(*_windows()).with_columns(*_derived(as_of))


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
