"""The pure generator: eligibility, the variation each subscriber fits, personal targets, expected value, caps,
cooldowns and the control group."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import polars as pl
import pytest

from questline.missions.generator import HELD_SCHEMA, Policy, generate
from questline.missions.history import stat_column
from questline.missions.template import Template, parse_template
from questline.missions.variations import expand

AS_OF = dt.date(2026, 3, 28)  # the clocks go forward in London the next night
TZ = "Europe/London"


def template(key: str = "t", **fields: Any) -> Template:
    document: dict[str, Any] = {
        "key": key,
        "name": key.title(),
        "category": "engagement",
        "description": "Do it",
        "criteria": {"events": {"types": ["sms"]}, "measure": "count", "target": 1},
        "reward": {"points": 10},
        "value": {"base": 1.0},
    }
    return parse_template(document | fields)


def profiles(n: int = 4, **columns: list[Any]) -> pl.DataFrame:
    base: dict[str, Any] = {
        "subscriber_id": [f"s{i}" for i in range(n)],
        "engagement": [50.0] * n,
        "revenue": [50.0] * n,
        "loyalty": [50.0] * n,
        "risk": [20.0] * n,
        "digital": [50.0] * n,
        "segment": ["regular"] * n,
        "churn_probability": [None] * n,
        "lifetime_value": [100.0] * n,
        "revenue_30d": [10.0] * n,
    }
    return pl.DataFrame(base | columns, schema_overrides={"churn_probability": pl.Float64})


NO_OFFERS = pl.DataFrame(
    schema={"subscriber_id": pl.String, "rank": pl.Int64, "product": pl.String, "propensity": pl.Float64}
)


def run(
    templates: list[Template],
    people: pl.DataFrame,
    *,
    offers: pl.DataFrame = NO_OFFERS,
    held: pl.DataFrame | None = None,
    policy: Policy = Policy(control_share=0.0),
    products: tuple[str, ...] = (),
) -> pl.DataFrame:
    missions = [m for t in templates for m in expand(t, products)]
    held = HELD_SCHEMA.to_frame() if held is None else held
    return generate(people, offers, missions, held, as_of=AS_OF, timezone=TZ, policy=policy)


def params(frame: pl.DataFrame, subscriber: str) -> dict[str, Any]:
    row = frame.filter(pl.col("subscriber_id") == subscriber)
    assert row.height == 1, row
    return dict(json.loads(row.item(0, "params")))


def test_only_eligible_subscribers_get_a_mission_starting_the_next_local_midnight() -> None:
    people = profiles(engagement=[10.0, 40.0, 70.0, None])
    spec = template(eligibility={"field": "engagement", "op": ">=", "value": 40})
    assigned = run([spec], people)
    assert sorted(assigned.get_column("subscriber_id")) == ["s1", "s2"]
    # 29 March 2026 00:00 in London is still GMT; the mission lasts 7 local days, ending in BST
    assert assigned.item(0, "starts_at") == dt.datetime(2026, 3, 29, 0, 0, tzinfo=dt.UTC)
    assert assigned.item(0, "ends_at") == dt.datetime(2026, 4, 4, 23, 0, tzinfo=dt.UTC)


def test_segment_dimension_gives_each_subscriber_their_segments_variation() -> None:
    people = profiles(segment=["loyal", "regular", "dormant", "loyal"])
    spec = template(variations={"segment": {"values": ["loyal", "regular"]}})
    assigned = run([spec], people).sort("subscriber_id")
    assert assigned.get_column("mission_key").to_list() == ["t:segment=loyal", "t:segment=regular", "t:segment=loyal"]


def test_score_bands_pick_harder_values_for_higher_scores() -> None:
    people = profiles(engagement=[5.0, 40.0, 99.0, 100.0])
    spec = template(
        parameters={"n": {"type": "integer", "default": 1, "min": 1, "max": 10}},
        criteria={"events": {"types": ["sms"]}, "measure": "count", "target": "{n}"},
        variations={"n": {"values": [1, 2, 3]}},
    )
    assigned = run([spec], people)
    assert [params(assigned, s)["n"] for s in ("s0", "s1", "s2", "s3")] == [1, 2, 3, 3]


def test_targets_are_personal_rounded_up_to_denominations_and_clamped() -> None:
    personal = {"metric": "recharge_amount", "quantile": 0.6, "days": 90, "multiply": "stretch"}
    spec = template(
        parameters={
            "amount": {"type": "number", "default": 10, "min": 5, "max": 50},
            "stretch": {"type": "number", "default": 1.2, "min": 1, "max": 3},
        },
        criteria={"events": {"types": ["recharge"]}, "measure": "sum", "target": "{amount}"},
        personalise={"amount": personal | {"denominations": [5, 10, 20, 50]}},
    )
    stat = stat_column(spec.personalise["amount"])
    people = profiles(**{stat: [3.0, 12.0, 400.0, None]})
    assigned = run([spec], people)
    amounts = [params(assigned, s)["amount"] for s in ("s0", "s1", "s2", "s3")]
    # 3 x 1.2 -> 5; 12 x 1.2 = 14.4 -> 20; 480 -> clamped to 50; no history -> the default 10
    assert amounts == [5.0, 20.0, 50.0, 10.0]


def test_a_step_rounds_up_and_integers_stay_whole() -> None:
    spec = template(
        parameters={"views": {"type": "integer", "default": 5, "min": 1, "max": 100}},
        criteria={"events": {"types": ["content_view"]}, "measure": "count", "target": "{views}"},
        personalise={"views": {"metric": "content_views", "quantile": 0.5, "days": 30, "multiply": 1.5, "step": 1}},
    )
    people = profiles(2, **{stat_column(spec.personalise["views"]): [2.0, 9.0]})
    assigned = run([spec], people)
    assert [params(assigned, s)["views"] for s in ("s0", "s1")] == [3, 14]


def test_product_missions_offer_the_product_next_best_offer_ranks_highest() -> None:
    spec = template(
        category="revenue",
        parameters={"product": {"type": "string", "default": "any"}},
        criteria={
            "events": {"types": ["bundle_purchase"], "where": [{"field": "product", "op": "eq", "value": "{product}"}]},
            "measure": "first",
            "target": 1,
        },
        variations={"product": {"values": ["from_offers"]}},
    )
    offers = pl.DataFrame(
        {
            "subscriber_id": ["s0", "s0", "s1", "s1"],
            "rank": [1, 2, 1, 2],
            "product": ["UNKNOWN", "DATA_5GB", "DATA_1GB", "DATA_5GB"],
            "propensity": [0.9, 0.4, 0.3, 0.2],
        }
    )
    assigned = run([spec], profiles(3), offers=offers, products=("DATA_1GB", "DATA_5GB"))
    assert params(assigned, "s0")["product"] == "DATA_5GB"  # UNKNOWN is not one of the template's products
    assert params(assigned, "s1")["product"] == "DATA_1GB"
    assert "s2" not in assigned.get_column("subscriber_id")  # no offer, no product mission
    assert assigned.filter(pl.col("subscriber_id") == "s0").item(0, "completion") == pytest.approx(0.5 * 0.4)


def test_caps_keep_the_best_missions_by_expected_value() -> None:
    specs = [template(f"e{i}", value={"base": float(i)}) for i in range(4)]
    specs += [template(f"r{i}", category="revenue", value={"base": 10.0 + i}) for i in range(3)]
    assigned = run(specs, profiles(2), policy=Policy(max_active=3, max_per_category=2, control_share=0.0))
    for subscriber in ("s0", "s1"):
        keys = assigned.filter(pl.col("subscriber_id") == subscriber).get_column("template_key").to_list()
        assert sorted(keys) == ["e3", "r1", "r2"]  # two revenue (the best), then the best engagement one


def test_retention_value_brings_correction_missions_forward_for_subscribers_at_risk() -> None:
    upsell = template("upsell", category="revenue", value={"base": 5.0})
    save = template("save", category="correction", value={"base": 0.5, "retention": 0.1})
    people = profiles(2, churn_probability=[0.02, 0.6])
    assigned = run([upsell, save], people, policy=Policy(max_active=1, control_share=0.0))
    chosen = dict(zip(assigned.get_column("subscriber_id"), assigned.get_column("template_key"), strict=True))
    assert chosen == {"s0": "upsell", "s1": "save"}


def test_held_missions_count_against_the_caps_and_cooldowns_block_a_template() -> None:
    specs = [template("a", cooldown_days=10), template("b"), template("c")]
    start = dt.datetime(2026, 3, 29, tzinfo=dt.UTC)
    held = pl.DataFrame(
        {
            "subscriber_id": ["s0", "s1", "s2"],
            "template_key": ["a", "a", "b"],
            "category": ["engagement"] * 3,
            "ends_at": [start - dt.timedelta(days=3), start - dt.timedelta(days=30), start + dt.timedelta(days=5)],
            "active": [False, False, True],
        },
        schema=HELD_SCHEMA,
    )
    assigned = run(specs, profiles(3), held=held, policy=Policy(max_active=5, max_per_category=2, control_share=0))
    got = {s: sorted(g.get_column("template_key")) for (s,), g in assigned.group_by("subscriber_id")}
    # equal expected values: ties go by priority, then by key
    assert got["s0"] == ["b", "c"]  # `a` ended 3 days ago: still cooling down
    assert got["s1"] == ["a", "b"]  # its cooldown is over
    assert got["s2"] == ["a"]  # holds `b`: room for one more engagement mission


def test_control_group_is_exactly_the_configured_share_and_stable() -> None:
    people = profiles(1000)
    specs = [template("a", control_share=0.2), template("b", category="revenue")]
    first = run(specs, people, policy=Policy(control_share=0.1))
    shares = first.group_by("template_key").agg(pl.col("control").mean()).sort("template_key")
    assert shares.get_column("control").to_list() == [0.2, 0.1]
    again = run(specs, people, policy=Policy(control_share=0.1))
    assert first.equals(again)
    # a subscriber's side does not depend on who else is generated for in the same run
    fewer = run(specs, people.head(999), policy=Policy(control_share=0.1))
    changed = first.join(fewer, on=["subscriber_id", "template_key"]).filter(
        pl.col("control") != pl.col("control_right")
    )
    assert changed.height <= 2


def test_nobody_eligible_gives_an_empty_frame_with_the_schema() -> None:
    spec = template(eligibility={"field": "engagement", "op": ">", "value": 100})
    assigned = run([spec], profiles())
    assert assigned.is_empty() and "control" in assigned.columns
