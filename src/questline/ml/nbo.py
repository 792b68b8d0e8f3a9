"""Next best offer: per subscriber a ranked list of products or bundles they do not hold, each with a propensity.

For subscriber u and a product p that u does not hold:
    affinity(u, p)   = max over products a held by u of P(p | a), the share of holders of a who also hold p
    popularity(u, p) = share of u's segment holding p, shrunk towards the whole base for small segments:
                       (holders in segment + prior * base share) / (segment size + prior)
    propensity       = affinity_weight * affinity + (1 - affinity_weight) * popularity   if u holds anything,
                       popularity                                                        otherwise.
Both terms are shares, so the propensity stays between 0 and 1. Purchases at or after `as_of` are ignored, so that an
offer never learns from the future.

`fit` learns the confidences and popularities from purchases: an `NboModel`, which `questline ml train nbo` keeps as
a registry version and which ranks offers from a subscriber's current holdings and segment without learning again.
`recommend` learns and ranks in one go (the scoring run without an active version). `evaluate` measures a model on
what subscribers went on to buy, against a ranking by popularity alone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from questline.kit.documents import load_document
from questline.kit.errors import Invalid

if TYPE_CHECKING:
    from questline.runtime import Runtime

PRIOR = 20.0  # by default a segment of 20 subscribers counts half its own shares, half the base's
AFFINITY_WEIGHT = 0.6
OFFERS = 3
ID = "subscriber_id"
SEGMENT = "segment"  # the segment column of a model's popularity table, whatever the subscribers' column is called
NO_SEGMENT = "(none)"


class NboConfig(BaseModel):
    """The recommender's configuration (`ml/nbo.yaml`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    offers: int = Field(default=OFFERS, ge=1, le=50)
    prior: float = Field(default=PRIOR, ge=0.0)
    affinity_weight: float = Field(default=AFFINITY_WEIGHT, ge=0.0, le=1.0)
    holdout_days: int = Field(default=30, ge=1, le=365)


def load_config(path: Path | None = None) -> NboConfig:
    """The shipped `nbo.yaml`, or an operator's own file; a bad value stops with the field named."""
    return load_document(NboConfig, path or Path(__file__).with_name("nbo.yaml"))


def holdings(purchases: pl.DataFrame, as_of: dt.datetime | dt.date | None = None) -> pl.DataFrame:
    """Distinct (subscriber_id, product) bought before `as_of`."""
    _require(purchases, [ID, "product", "event_time"], "purchases")
    frame = purchases.lazy()
    if as_of is not None:
        frame = frame.filter(pl.col("event_time") < pl.lit(as_of))
    return frame.select(ID, "product").unique().collect()


def co_occurrence(held: pl.DataFrame) -> pl.DataFrame:
    """(product, other, confidence): the share of the holders of `product` who also hold `other`."""
    holders = held.group_by("product").agg(pl.len().alias("holders"))
    pairs = (
        held.join(held.rename({"product": "other"}), on=ID)
        .filter(pl.col("product") != pl.col("other"))
        .group_by("product", "other")
        .agg(pl.len().alias("both"))
    )
    return pairs.join(holders, on="product").select(
        "product", "other", (pl.col("both") / pl.col("holders")).alias("confidence")
    )


def base_shares(held: pl.DataFrame, subscribers: pl.DataFrame) -> pl.DataFrame:
    """(product, base_share): the share of `subscribers` holding each product held by any of them."""
    size = max(subscribers.height, 1)
    members = held.join(subscribers.select(ID), on=ID, how="semi")
    return members.group_by("product").agg((pl.len() / size).alias("base_share"))


def segment_popularity(
    held: pl.DataFrame, subscribers: pl.DataFrame, segment: str, prior: float = PRIOR
) -> pl.DataFrame:
    """(segment, product, popularity) with small segments shrunk towards the base's shares."""
    members = subscribers.select(ID, segment)
    sizes = members.group_by(segment).agg(pl.len().alias("size"))
    counts = held.join(members, on=ID).group_by(segment, "product").agg(pl.len().alias("n"))
    grid = sizes.join(base_shares(held, members), how="cross").join(counts, on=[segment, "product"], how="left")
    popularity = (pl.col("n").fill_null(0) + prior * pl.col("base_share")) / (pl.col("size") + prior)
    return grid.select(segment, "product", popularity.alias("popularity"))


@dataclass(frozen=True)
class NboModel:
    """What the recommender learned from purchases: the products' confidences, each segment's popularity and the
    whole base's shares (which stand in for a segment it never saw), with the settings it ranks by."""

    confidence: pl.DataFrame  # product, other, confidence
    popularity: pl.DataFrame  # segment, product, popularity
    base: pl.DataFrame  # product, base_share: the products it can offer
    prior: float
    affinity_weight: float
    offers: int

    @property
    def products(self) -> list[str]:
        return sorted(self.base["product"].to_list())

    def recommend(
        self, held: pl.DataFrame, subscribers: pl.DataFrame, *, segment: str = SEGMENT, top: int | None = None
    ) -> pl.DataFrame:
        """(subscriber_id, rank, product, propensity, affinity, popularity) for every subscriber in `subscribers`
        (subscriber_id and `segment`), given what they hold now (`held`: subscriber_id, product): their `top`
        (default the model's `offers`) best products they do not hold, rank 1 first."""
        members, top = self._inputs(held, subscribers, segment, top)
        known = pl.concat([self.base.select("product"), self.confidence.select("product")]).unique()
        holds_any = held.join(known, on="product", how="semi").select(ID).unique().with_columns(holds_any=True)
        affinity = (
            held.join(self.confidence, on="product")
            .group_by(ID, "other")
            .agg(pl.col("confidence").max().alias("affinity"))
            .rename({"other": "product"})
        )
        scored = (
            self._candidates(members, held)
            .join(self.popularity, on=[SEGMENT, "product"], how="left")
            .with_columns(pl.col("popularity").fill_null(pl.col("base_share")))
            .join(affinity, on=[ID, "product"], how="left")
            .join(holds_any, on=ID, how="left")
            .with_columns(pl.col("affinity").fill_null(0.0))
        )
        blended = self.affinity_weight * pl.col("affinity") + (1 - self.affinity_weight) * pl.col("popularity")
        propensity = pl.when(pl.col("holds_any").fill_null(False)).then(blended).otherwise(pl.col("popularity"))
        ranked = _ranked(scored.with_columns(propensity.alias("propensity")), "propensity", top)
        return ranked.select(ID, "rank", "product", "propensity", "affinity", "popularity")

    def popular(
        self, held: pl.DataFrame, subscribers: pl.DataFrame, *, segment: str = SEGMENT, top: int | None = None
    ) -> pl.DataFrame:
        """The baseline: (subscriber_id, rank, product, base_share), the base's most held products they lack."""
        members, top = self._inputs(held, subscribers, segment, top)
        return _ranked(self._candidates(members, held), "base_share", top).select(ID, "rank", "product", "base_share")

    def _inputs(
        self, held: pl.DataFrame, subscribers: pl.DataFrame, segment: str, top: int | None
    ) -> tuple[pl.DataFrame, int]:
        _require(subscribers, [ID, segment], "subscribers")
        _require(held, [ID, "product"], "held")
        top = self.offers if top is None else top
        if top < 1:
            raise Invalid("at least one offer per subscriber", field="top")
        return subscribers.select(ID, _segment(segment).alias(SEGMENT)), top

    def _candidates(self, members: pl.DataFrame, held: pl.DataFrame) -> pl.DataFrame:
        """Every (subscriber, product the model knows) pair the subscriber does not hold, with the product's base
        share."""
        return members.join(self.base, how="cross").join(held, on=[ID, "product"], how="anti")


def fit(
    held: pl.DataFrame,
    subscribers: pl.DataFrame,
    *,
    segment: str = SEGMENT,
    prior: float = PRIOR,
    affinity_weight: float = AFFINITY_WEIGHT,
    offers: int = OFFERS,
) -> NboModel:
    """Learn from holdings (subscriber_id, product) and the subscribers' segments (subscriber_id, `segment`) at the
    same moment: confidences from every holder, popularity from `subscribers` only."""
    _require(held, [ID, "product"], "held")
    _require(subscribers, [ID, segment], "subscribers")
    if prior < 0:
        raise Invalid("the prior weight cannot be negative", field="prior")
    if not 0 <= affinity_weight <= 1:
        raise Invalid("the affinity weight is between 0 and 1", field="affinity_weight")
    if offers < 1:
        raise Invalid("at least one offer per subscriber", field="top")
    members = subscribers.select(ID, _segment(segment).alias(SEGMENT))
    return NboModel(
        confidence=co_occurrence(held),
        popularity=segment_popularity(held, members, SEGMENT, prior),
        base=base_shares(held, members),
        prior=prior,
        affinity_weight=affinity_weight,
        offers=offers,
    )


def recommend(
    purchases: pl.DataFrame,
    subscribers: pl.DataFrame,
    *,
    segment: str = SEGMENT,
    top: int = OFFERS,
    as_of: dt.datetime | dt.date | None = None,
    prior: float = PRIOR,
    affinity_weight: float = AFFINITY_WEIGHT,
) -> pl.DataFrame:
    """Learn from `purchases` (subscriber_id, product, event_time) before `as_of` and rank at once: see
    `NboModel.recommend`."""
    _require(subscribers, [ID, segment], "subscribers")
    if top < 1:
        raise Invalid("at least one offer per subscriber", field="top")
    held = holdings(purchases, as_of)
    model = fit(held, subscribers, segment=segment, prior=prior, affinity_weight=affinity_weight, offers=top)
    return model.recommend(held, subscribers, segment=segment)


def evaluate(
    model: NboModel,
    held: pl.DataFrame,
    subscribers: pl.DataFrame,
    bought: pl.DataFrame,
    *,
    segment: str = SEGMENT,
    top: int | None = None,
) -> dict[str, Any]:
    """How the model's offers, made from `held` (subscriber_id, product) at the cut-off, match what `subscribers`
    went on to buy afterwards (`bought`: subscriber_id, product). Only subscribers who then bought a product they did
    not hold count; for each, a hit is an offer among those new products. Averaged over them:
        hit_rate_at_k   share with at least one of their k offers bought
        precision_at_k  share of the offers made that were bought
        recall_at_k     share of their new products that were offered
    and the same for the baseline, the k most held products of the whole base that they lack."""
    _require(bought, [ID, "product"], "bought")
    top = model.offers if top is None else top
    new = (
        bought.select(ID, "product")
        .unique()
        .join(held, on=[ID, "product"], how="anti")
        .join(subscribers.select(ID), on=ID, how="semi")
    )
    if new.is_empty():
        raise Invalid("nobody bought a product they did not hold after the cut-off: nothing to check", field="bought")
    buyers = subscribers.join(new.select(ID).unique(), on=ID, how="semi")
    ranked = _hits(model.recommend(held, buyers, segment=segment, top=top), new)
    baseline = _hits(model.popular(held, buyers, segment=segment, top=top), new)
    return {
        "k": top,
        "evaluated": buyers.height,
        **{f"{name}_at_k": value for name, value in ranked.items()},
        **{f"baseline_{name}_at_k": value for name, value in baseline.items()},
        "new_purchases": new.height,
    }


def _hits(offers: pl.DataFrame, new: pl.DataFrame) -> dict[str, float]:
    wanted = new.group_by(ID).agg(pl.len().alias("wanted"))
    made = offers.group_by(ID).agg(pl.len().alias("offered"))
    hits = offers.join(new, on=[ID, "product"], how="semi").group_by(ID).agg(pl.len().alias("hits"))
    table = wanted.join(made, on=ID, how="left").join(hits, on=ID, how="left").fill_null(0)
    precision = pl.when(pl.col("offered") > 0).then(pl.col("hits") / pl.col("offered")).otherwise(0.0)
    means = table.select(
        (pl.col("hits") > 0).mean().alias("hit_rate"),
        precision.mean().alias("precision"),
        (pl.col("hits") / pl.col("wanted")).mean().alias("recall"),
    )
    return {name: float(value) for name, value in means.row(0, named=True).items()}


def _ranked(scored: pl.DataFrame, by: str, top: int) -> pl.DataFrame:
    """The `top` rows of each subscriber by `by`, highest first (ties by product name), with a dense `rank`."""
    ordered = scored.sort([ID, by, "product"], descending=[False, True, False])
    ranked = ordered.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(ID).alias("rank"))
    return ranked.filter(pl.col("rank") <= top)


def _segment(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String).fill_null(NO_SEGMENT)


def lake_purchases(rt: Runtime, *, start: dt.date | None = None, end: dt.date | None = None) -> pl.DataFrame:
    """(subscriber_id, product, event_time) of the lake's bundle purchases naming a product, on local days from
    `start` to `end` inclusive."""
    return (
        rt.events.scan(start=start, end=end)
        .filter((pl.col("event_type") == "bundle_purchase") & pl.col("product").is_not_null())
        .select(ID, "product", "event_time")
        .collect()
    )


def _require(frame: pl.DataFrame, columns: list[str], field: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise Invalid(f"missing columns: {', '.join(missing)}", field=field)
