from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from questline.kit.errors import ConfigError, Invalid
from questline.ml import nbo

T = dt.datetime(2026, 10, 1)
SUBSCRIBERS = pl.DataFrame(
    {"subscriber_id": ["s1", "s2", "s3", "s4", "s5", "s6"], "segment": ["youth"] * 3 + ["travel"] * 3}
)
HELD = {"s1": ["data5", "voice"], "s2": ["data5", "voice"], "s3": ["data5"], "s4": ["roam"], "s5": ["roam", "data5"]}
PURCHASES = pl.DataFrame(
    [{"subscriber_id": s, "product": p, "event_time": T} for s, products in HELD.items() for p in products]
)


def _offers(frame: pl.DataFrame, subscriber: str) -> list[str]:
    return frame.filter(pl.col("subscriber_id") == subscriber).sort("rank")["product"].to_list()


def test_what_is_held_is_never_offered() -> None:
    offers = nbo.recommend(PURCHASES, SUBSCRIBERS, top=5)
    held = PURCHASES.select("subscriber_id", "product")
    assert offers.join(held, on=["subscriber_id", "product"]).is_empty()
    assert _offers(offers, "s1") == ["roam"]  # the only product s1 lacks


def test_co_occurrence_ranks_the_usual_companion_first() -> None:
    # holders of data5: s1, s2, s3, s5; with voice: 2 of 4, with roam: 1 of 4
    confidence = nbo.co_occurrence(nbo.holdings(PURCHASES))
    row = confidence.filter((pl.col("product") == "data5") & (pl.col("other") == "voice"))
    assert row["confidence"].item() == pytest.approx(0.5)
    offers = nbo.recommend(PURCHASES, SUBSCRIBERS)
    assert _offers(offers, "s3") == ["voice", "roam"]


def test_newcomers_get_what_their_segment_buys() -> None:
    offers = nbo.recommend(PURCHASES, SUBSCRIBERS, top=1, prior=1)  # segments of 3 need a light prior
    s6 = offers.filter(pl.col("subscriber_id") == "s6").to_dicts()
    assert [o["product"] for o in s6] == ["roam"]  # 2 of 3 travellers hold roaming, no youth does
    assert s6[0]["affinity"] == 0.0 and s6[0]["propensity"] == s6[0]["popularity"]


def test_propensities_are_shares_and_ranks_are_dense() -> None:
    offers = nbo.recommend(PURCHASES, SUBSCRIBERS, top=2)
    assert offers["propensity"].is_between(0, 1).all()
    assert offers.group_by("subscriber_id").agg(pl.col("rank").max())["rank"].max() <= 2
    ranked = offers.sort("subscriber_id", "rank")
    for _, group in ranked.group_by("subscriber_id"):
        assert group["propensity"].to_list() == sorted(group["propensity"].to_list(), reverse=True)
        assert group["rank"].to_list() == list(range(1, group.height + 1))


def test_popularity_of_small_segments_leans_on_the_base() -> None:
    held = nbo.holdings(PURCHASES)
    popularity = nbo.segment_popularity(held, SUBSCRIBERS, "segment")
    youth_roam = popularity.filter((pl.col("segment") == "youth") & (pl.col("product") == "roam"))["popularity"]
    # nobody in youth holds roam, 2 of 6 in the base do: (0 + 20 * 2/6) / (3 + 20)
    assert youth_roam.item() == pytest.approx((20 * 2 / 6) / 23)
    unshrunk = nbo.segment_popularity(held, SUBSCRIBERS, "segment", prior=0)
    assert unshrunk.filter(pl.col("product") == "roam").sort("segment")["popularity"].to_list() == [2 / 3, 0.0]


def test_purchases_from_the_future_are_ignored() -> None:
    later = pl.DataFrame({"subscriber_id": ["s6"], "product": ["voice"], "event_time": [T + dt.timedelta(days=30)]})
    purchases = pl.concat([PURCHASES, later])
    before = nbo.recommend(purchases, SUBSCRIBERS, top=5, as_of=T + dt.timedelta(days=1))
    assert "voice" in _offers(before, "s6")
    after = nbo.recommend(purchases, SUBSCRIBERS, top=5)
    assert "voice" not in _offers(after, "s6")


def test_subscribers_without_a_segment_are_still_served() -> None:
    subscribers = pl.concat([SUBSCRIBERS, pl.DataFrame({"subscriber_id": ["s9"], "segment": [None]})])
    assert _offers(nbo.recommend(PURCHASES, subscribers, top=1), "s9") != []


@pytest.mark.parametrize(
    ("purchases", "subscribers", "top", "field"),
    [
        (PURCHASES.drop("event_time"), SUBSCRIBERS, 3, "purchases"),
        (PURCHASES, SUBSCRIBERS.drop("segment"), 3, "subscribers"),
        (PURCHASES, SUBSCRIBERS, 0, "top"),
    ],
)
def test_bad_frames_name_the_field(purchases: pl.DataFrame, subscribers: pl.DataFrame, top: int, field: str) -> None:
    with pytest.raises(Invalid) as error:
        nbo.recommend(purchases, subscribers, top=top)
    assert error.value.field == field


def test_a_learned_model_ranks_as_learning_on_the_fly_does() -> None:
    held = nbo.holdings(PURCHASES)
    model = nbo.fit(held, SUBSCRIBERS, offers=2)
    assert model.products == ["data5", "roam", "voice"]
    assert model.recommend(held, SUBSCRIBERS).equals(nbo.recommend(PURCHASES, SUBSCRIBERS, top=2))


def test_a_stored_model_ranks_new_holdings_without_learning_again() -> None:
    model = nbo.fit(nbo.holdings(PURCHASES), SUBSCRIBERS)
    # s6 has since bought voice: it is no longer offered, and what voice holders bought (data5) now counts
    now = pl.concat([nbo.holdings(PURCHASES), pl.DataFrame({"subscriber_id": ["s6"], "product": ["voice"]})])
    offers = model.recommend(now, SUBSCRIBERS)
    assert _offers(offers, "s6") == ["data5", "roam"]
    data5 = offers.filter((pl.col("subscriber_id") == "s6") & (pl.col("product") == "data5")).row(0, named=True)
    assert data5["affinity"] == 1.0  # both voice holders of the training purchases hold data5
    # the segment's popularity is the one learned: s6's purchase did not make voice more popular among travellers
    assert (
        data5["popularity"]
        == model.popularity.filter((pl.col("segment") == "travel") & (pl.col("product") == "data5"))[
            "popularity"
        ].item()
    )


def test_a_segment_never_seen_gets_the_whole_base_shares() -> None:
    model = nbo.fit(nbo.holdings(PURCHASES), SUBSCRIBERS)
    newcomer = pl.DataFrame({"subscriber_id": ["s7"], "segment": ["business"]})
    offers = model.recommend(nbo.holdings(PURCHASES), newcomer, top=3)
    assert offers["product"].to_list() == ["data5", "roam", "voice"]  # held by 4, 2 and 2 of the 6
    assert offers["popularity"].to_list() == pytest.approx([4 / 6, 2 / 6, 2 / 6])


def test_the_holdout_check_counts_hits_among_new_purchases() -> None:
    held = nbo.holdings(PURCHASES)
    model = nbo.fit(held, SUBSCRIBERS, prior=1)
    # afterwards s3 buys voice (its first offer) and roam, both new to it; s4 buys roam, which it already held
    bought = pl.DataFrame({"subscriber_id": ["s3", "s3", "s4"], "product": ["voice", "roam", "roam"]})
    one = nbo.evaluate(model, held, SUBSCRIBERS, bought, top=1)
    assert one["evaluated"] == 1 and one["new_purchases"] == 2  # s4 bought nothing new
    assert (one["hit_rate_at_k"], one["precision_at_k"], one["recall_at_k"]) == (1.0, 1.0, 0.5)
    # the base's most held product s3 lacks is roam or voice (2 holders each): ties go by name, roam
    assert (one["baseline_hit_rate_at_k"], one["baseline_recall_at_k"]) == (1.0, 0.5)
    with pytest.raises(Invalid) as nothing_new:
        nbo.evaluate(model, held, SUBSCRIBERS, bought.filter(pl.col("subscriber_id") == "s4"))
    assert nothing_new.value.field == "bought"


def test_a_bad_configuration_names_the_field(tmp_path: Path) -> None:
    assert nbo.load_config() == nbo.NboConfig()  # the shipped file holds the defaults
    own = tmp_path / "nbo.yaml"
    own.write_text("affinity_weight: 1.5\n")
    with pytest.raises(ConfigError) as caught:
        nbo.load_config(own)
    assert caught.value.field == "affinity_weight"
    with pytest.raises(Invalid) as weight:
        nbo.fit(nbo.holdings(PURCHASES), SUBSCRIBERS, affinity_weight=-0.1)
    assert weight.value.field == "affinity_weight"
