"""Next best offer: per subscriber a ranked list of products or bundles they do not hold, each with a propensity.

For subscriber u and a product p that u does not hold:
    affinity(u, p)   = max over products a held by u of P(p | a), the share of holders of a who also hold p
    popularity(u, p) = share of u's segment holding p, shrunk towards the whole base for small segments:
                       (holders in segment + prior * base share) / (segment size + prior)
    propensity       = AFFINITY_WEIGHT * affinity + (1 - AFFINITY_WEIGHT) * popularity   if u holds anything,
                       popularity                                                        otherwise.
Both terms are shares, so the propensity stays between 0 and 1. Purchases at or after `as_of` are ignored, so that an
offer never learns from the future."""

from __future__ import annotations

import datetime as dt

import polars as pl

from questline.kit.errors import Invalid

PRIOR = 20.0  # by default a segment of 20 subscribers counts half its own shares, half the base's
AFFINITY_WEIGHT = 0.6


def holdings(purchases: pl.DataFrame, as_of: dt.datetime | dt.date | None = None) -> pl.DataFrame:
    """Distinct (subscriber_id, product) bought before `as_of`."""
    _require(purchases, ["subscriber_id", "product", "event_time"], "purchases")
    frame = purchases.lazy()
    if as_of is not None:
        frame = frame.filter(pl.col("event_time") < pl.lit(as_of))
    return frame.select("subscriber_id", "product").unique().collect()


def co_occurrence(held: pl.DataFrame) -> pl.DataFrame:
    """(product, other, confidence): the share of the holders of `product` who also hold `other`."""
    holders = held.group_by("product").agg(pl.len().alias("holders"))
    pairs = (
        held.join(held.rename({"product": "other"}), on="subscriber_id")
        .filter(pl.col("product") != pl.col("other"))
        .group_by("product", "other")
        .agg(pl.len().alias("both"))
    )
    return pairs.join(holders, on="product").select(
        "product", "other", (pl.col("both") / pl.col("holders")).alias("confidence")
    )


def segment_popularity(
    held: pl.DataFrame, subscribers: pl.DataFrame, segment: str, prior: float = PRIOR
) -> pl.DataFrame:
    """(segment, product, popularity) with small segments shrunk towards the base's shares."""
    base_size = max(subscribers.height, 1)
    members = subscribers.select("subscriber_id", segment)
    sizes = members.group_by(segment).agg(pl.len().alias("size"))
    counts = held.join(members, on="subscriber_id").group_by(segment, "product").agg(pl.len().alias("n"))
    base = counts.group_by("product").agg((pl.col("n").sum() / base_size).alias("base_share"))
    grid = sizes.join(base, how="cross").join(counts, on=[segment, "product"], how="left")
    popularity = (pl.col("n").fill_null(0) + prior * pl.col("base_share")) / (pl.col("size") + prior)
    return grid.select(segment, "product", popularity.alias("popularity"))


def recommend(
    purchases: pl.DataFrame,
    subscribers: pl.DataFrame,
    *,
    segment: str = "segment",
    top: int = 3,
    as_of: dt.datetime | dt.date | None = None,
    prior: float = PRIOR,
) -> pl.DataFrame:
    """(subscriber_id, rank, product, propensity, affinity, popularity) for every subscriber in `subscribers`:
    their `top` best products they do not already hold, rank 1 first."""
    _require(subscribers, ["subscriber_id", segment], "subscribers")
    if top < 1:
        raise Invalid("at least one offer per subscriber", field="top")
    subscribers = subscribers.with_columns(pl.col(segment).cast(pl.String).fill_null("(none)"))
    held = holdings(purchases, as_of)
    if prior < 0:
        raise Invalid("the prior weight cannot be negative", field="prior")
    popularity = segment_popularity(held, subscribers, segment, prior)
    candidates = subscribers.select("subscriber_id", segment).join(popularity, on=segment)
    affinity = (
        held.join(co_occurrence(held), on="product")
        .group_by("subscriber_id", "other")
        .agg(pl.col("confidence").max().alias("affinity"))
        .rename({"other": "product"})
    )
    holds_any = held.select("subscriber_id").unique().with_columns(pl.lit(True).alias("holds_any"))
    scored = (
        candidates.join(held, on=["subscriber_id", "product"], how="anti")
        .join(affinity, on=["subscriber_id", "product"], how="left")
        .join(holds_any, on="subscriber_id", how="left")
        .with_columns(pl.col("affinity").fill_null(0.0))
        .with_columns(_propensity().alias("propensity"))
    )
    ranked = scored.sort(["subscriber_id", "propensity", "product"], descending=[False, True, False]).with_columns(
        pl.int_range(1, pl.len() + 1).over("subscriber_id").alias("rank")
    )
    return ranked.filter(pl.col("rank") <= top).select(
        "subscriber_id", pl.col("rank").cast(pl.Int32), "product", "propensity", "affinity", "popularity"
    )


def _propensity() -> pl.Expr:
    blended = AFFINITY_WEIGHT * pl.col("affinity") + (1 - AFFINITY_WEIGHT) * pl.col("popularity")
    return pl.when(pl.col("holds_any").fill_null(False)).then(blended).otherwise(pl.col("popularity"))


def _require(frame: pl.DataFrame, columns: list[str], field: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise Invalid(f"missing columns: {', '.join(missing)}", field=field)
