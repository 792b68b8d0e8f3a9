"""The five scores over hand-made feature tables: the right subscriber ranks higher on the right score."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from questline.kit.errors import ConfigError, Invalid
from questline.scoring import scores
from questline.scoring.config import SCORE_NAMES, Feature, ScoreConfig, load_scores
from questline.scoring.scores import band_changes, bands, score

METRICS = (
    "voice_s", "voice_calls", "sms", "data_bytes", "recharge_amount", "recharge_count", "bundle_amount",
    "bundle_count", "payment_amount", "payment_count", "payments_on_time", "app_logins", "app_events",
    "features_used", "content_views", "shares", "referrals", "complaints", "dropped_calls", "outage_s", "revenue",
)  # fmt: skip
TRENDS = ("voice_s", "data_bytes", "revenue", "app_events", "active_days")
CONFIG = load_scores()


def population(n: int = 40, seed: int = 7) -> pl.DataFrame:
    """A varied base of ordinary subscribers with every column of the feature table."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {"subscriber_id": np.arange(n, dtype=np.int64)}
    for w in (7, 30, 90):
        for m in METRICS:
            cols[f"{m}_{w}d"] = rng.poisson(5 * w / 7, n).astype(np.float64)
        cols[f"active_days_{w}d"] = rng.integers(0, w + 1, n)
        cols[f"app_active_days_{w}d"] = rng.integers(0, w + 1, n)
    for t in TRENDS:
        cols[f"trend_{t}"] = rng.normal(0, 0.3, n)
    cols |= {
        "recency_days": rng.integers(0, 20, n),
        "distinct_features_30d": rng.integers(0, 8, n),
        "variety_30d": rng.integers(1, 6, n),
        "digital_share_30d": rng.random(n),
        "on_time_ratio_90d": rng.random(n),
        "churn_signals_30d": rng.integers(0, 2, n),
        "tenure_days": rng.integers(30, 2000, n),
        "plan": rng.choice(["prepaid", "postpaid"], n),
        "days_observed": np.full(n, 120),
    }
    return pl.DataFrame(cols)


def with_subscriber(frame: pl.DataFrame, subscriber_id: int, **values: object) -> pl.DataFrame:
    """The base with one subscriber's features set (other columns keep the base's values)."""
    row = frame.filter(pl.col("subscriber_id") == 0).with_columns(
        pl.lit(subscriber_id, pl.Int64).alias("subscriber_id"),
        *(pl.lit(v).cast(frame.schema[k]).alias(k) for k, v in values.items()),
    )
    return pl.concat([frame.filter(pl.col("subscriber_id") != subscriber_id), row])


def of(scores: pl.DataFrame, subscriber_id: int, name: str) -> float:
    return float(scores.filter(pl.col("subscriber_id") == subscriber_id).get_column(name).item())


STRONG = 1000
WEAK = 1001
# Per score: a clearly strong and a clearly weak subscriber, described the way a CVM analyst would.
PROFILES: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    "engagement": (
        {"active_days_30d": 30, "data_bytes_30d": 9e9, "voice_s_30d": 9e4, "variety_30d": 6, "recency_days": 0},
        {"active_days_30d": 1, "data_bytes_30d": 0.0, "voice_s_30d": 0.0, "variety_30d": 1, "recency_days": 25},
    ),
    "revenue": (
        {"revenue_30d": 900.0, "revenue_90d": 2500.0, "recharge_amount_30d": 500.0, "bundle_amount_30d": 300.0},
        {"revenue_30d": 0.0, "revenue_90d": 1.0, "recharge_amount_30d": 0.0, "bundle_amount_30d": 0.0},
    ),
    "loyalty": (
        {"tenure_days": 4000, "active_days_90d": 90, "on_time_ratio_90d": 1.0, "referrals_90d": 40.0},
        {"tenure_days": 20, "active_days_90d": 3, "on_time_ratio_90d": 0.0, "complaints_90d": 50.0},
    ),
    "risk": (
        {"recency_days": 60, "trend_active_days": -3.0, "trend_revenue": -3.0, "complaints_30d": 30.0},
        {"recency_days": 0, "trend_active_days": 0.5, "trend_revenue": 0.5, "complaints_30d": 0.0},
    ),
    "digital": (
        {"app_active_days_30d": 30, "app_events_30d": 900.0, "distinct_features_30d": 12, "digital_share_30d": 1.0},
        {"app_active_days_30d": 0, "app_events_30d": 0.0, "distinct_features_30d": 0, "digital_share_30d": 0.0},
    ),
}


def test_shape_and_bounds() -> None:
    scores = score(population(), CONFIG)
    assert scores.columns == ["subscriber_id", *SCORE_NAMES, "explanation"]
    for name in SCORE_NAMES:
        assert scores.get_column(name).is_between(0, 100).all()
        assert scores.get_column(name).dtype == pl.Float64


@pytest.mark.parametrize("name", SCORE_NAMES)
def test_the_right_subscriber_scores_higher(name: str) -> None:
    strong, weak = PROFILES[name]
    frame = with_subscriber(with_subscriber(population(), STRONG, **strong), WEAK, **weak)
    scores = score(frame, CONFIG)
    assert of(scores, STRONG, name) > 50 > of(scores, WEAK, name)


def test_an_outlier_does_not_flatten_everyone_else() -> None:
    base = population()
    modest = score(with_subscriber(base, STRONG, revenue_30d=1e3), CONFIG)
    huge = score(with_subscriber(base, STRONG, revenue_30d=1e12), CONFIG)
    others = pl.col("subscriber_id") != STRONG
    assert modest.filter(others).get_column("revenue").equals(huge.filter(others).get_column("revenue"))
    assert huge.filter(others).get_column("revenue").std() > 5  # still spread out


def test_explanation_names_the_feature_that_moved_the_score() -> None:
    flat = pl.DataFrame({"subscriber_id": range(10)}).join(population().drop("subscriber_id").head(1), how="cross")
    frame = flat.with_columns(
        pl.when(pl.col("subscriber_id") == 3).then(30).otherwise(5).alias("app_active_days_30d"),
        pl.when(pl.col("subscriber_id") == 4).then(200).otherwise(0).alias("recency_days"),
    )
    scores = score(frame, CONFIG)
    digital = scores.filter(pl.col("subscriber_id") == 3).get_column("explanation").struct.field("digital")[0]
    assert digital[0]["feature"] == "app_active_days_30d"
    assert digital[0]["value"] == 30 and digital[0]["sign"] == 1 and digital[0]["contribution"] > 0
    assert len(digital) == 3
    engagement = scores.filter(pl.col("subscriber_id") == 4).get_column("explanation").struct.field("engagement")[0]
    assert engagement[0]["feature"] == "recency_days" and engagement[0]["sign"] == -1
    risk = scores.filter(pl.col("subscriber_id") == 4).get_column("explanation").struct.field("risk")[0]
    assert risk[0]["feature"] == "recency_days" and risk[0]["sign"] == 1


def test_contributions_add_up_to_the_score() -> None:
    doc = CONFIG.model_dump()
    doc["scores"]["revenue"]["features"] = doc["scores"]["revenue"]["features"][:3]  # all of them are explained
    scores = score(population(), ScoreConfig.model_validate(doc))
    for row in scores.iter_rows(named=True):
        reasons = row["explanation"]["revenue"]
        assert row["revenue"] == pytest.approx(50 + sum(r["contribution"] for r in reasons))
        sizes = [abs(r["contribution"]) for r in reasons]
        assert sizes == sorted(sizes, reverse=True)


def test_a_constant_feature_is_neutral() -> None:
    frame = population().with_columns(pl.lit(7.0).alias("revenue_30d"))
    reasons = score(frame, CONFIG).get_column("explanation").struct.field("revenue")
    assert all(r["feature"] != "revenue_30d" or r["contribution"] == 0 for rs in reasons for r in rs)


def test_nulls_follow_the_feature_policy() -> None:
    frame = with_subscriber(population(), STRONG, on_time_ratio_90d=None, digital_share_30d=None)
    scores = score(frame, CONFIG)
    assert scores.get_column("loyalty").null_count() == 0
    assert scores.get_column("digital").null_count() == 0


def _only(name: str, feature: str, nulls: str, weight: float = 1) -> ScoreConfig:
    doc = CONFIG.model_dump()
    doc["scores"][name]["features"] = [{"name": feature, "weight": weight, "why": "test", "nulls": nulls}]
    return ScoreConfig.model_validate(doc)


@pytest.mark.parametrize(
    ("nulls", "weight", "expected"),
    [
        ("zero", 1, [100.0, 0.0, 50.0]),  # the missing one counts as 0, the lowest
        ("median", 1, [100.0, 50.0, 0.0]),  # the median of 5 and 1 is 3: between the two
        ("neutral", 1, [100.0, 50.0, 0.0]),
        ("worst", 1, [100.0, 0.0, 0.0]),
        ("worst", -1, [0.0, 0.0, 100.0]),
        ("zero", -1, [0.0, 100.0, 50.0]),
    ],
)
def test_null_policies(nulls: str, weight: float, expected: list[float]) -> None:
    frame = population(3).with_columns(pl.Series("digital_share_30d", [5.0, None, 1.0]))
    got = score(frame, _only("digital", "digital_share_30d", nulls, weight)).get_column("digital").to_list()
    assert got == pytest.approx(expected)


def test_normalise_within_a_group() -> None:
    doc = CONFIG.model_dump()
    doc["scores"]["revenue"]["normalise"] = {"within": "plan"}
    doc["scores"]["revenue"]["features"] = [{"name": "revenue_30d", "weight": 1, "why": "spend"}]
    config = ScoreConfig.model_validate(doc)
    frame = pl.DataFrame({"subscriber_id": range(4), "plan": ["a", "a", "b", "b"], "revenue_30d": [1, 2, 100, 200]})
    frame = frame.join(population().drop("subscriber_id", "plan", "revenue_30d").head(1), how="cross")
    assert score(frame, config).get_column("revenue").to_list() == [0.0, 100.0, 0.0, 100.0]


# ---- risk from a churn model ---------------------------------------------------------------------------------------


def test_risk_is_the_churn_probability_where_the_model_scored() -> None:
    frame = population(5)
    churn = pl.DataFrame({"subscriber_id": [0, 1], "churn_probability": [0.9, 0.05]})
    scores = score(frame, CONFIG, churn=churn)
    heuristic = score(frame, CONFIG)
    assert of(scores, 0, "risk") == pytest.approx(90) and of(scores, 1, "risk") == pytest.approx(5)
    assert of(scores, 2, "risk") == of(heuristic, 2, "risk")
    why = scores.filter(pl.col("subscriber_id") == 0).get_column("explanation").struct.field("risk")[0]
    assert why.to_list() == [
        {"feature": "churn_probability", "value": 0.9, "contribution": pytest.approx(40), "sign": 1}
    ]


@pytest.mark.parametrize(
    ("churn", "field"),
    [
        (pl.DataFrame({"subscriber_id": [0], "churn_probability": [1.5]}), "churn.churn_probability"),
        (pl.DataFrame({"subscriber_id": [0, 0], "churn_probability": [0.1, 0.2]}), "churn"),
        (pl.DataFrame({"subscriber_id": [0], "p": [0.1]}), "churn"),
    ],
)
def test_bad_churn_scores_are_refused(churn: pl.DataFrame, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        score(population(3), CONFIG, churn=churn)
    assert caught.value.field == field


# ---- configuration -------------------------------------------------------------------------------------------------


def test_unknown_feature_is_named_at_scoring_time() -> None:
    with pytest.raises(ConfigError) as caught:
        score(population().drop("variety_30d"), CONFIG)
    assert caught.value.field == "scores.engagement.features.4.name"
    assert "variety_30d" in caught.value.message


def test_missing_grouping_column_is_named() -> None:
    doc = CONFIG.model_dump()
    doc["scores"]["digital"]["normalise"] = {"within": "segment"}
    with pytest.raises(ConfigError) as caught:
        score(population(), ScoreConfig.model_validate(doc))
    assert caught.value.field == "scores.digital.normalise.within"


def _broken(path: tuple[Any, ...], value: object) -> dict[str, Any]:
    doc = CONFIG.model_dump()
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "field", "reason"),
    [
        (("scores", "revenue", "features", 0, "weight"), 0, "scores.revenue.features.0.weight", "non-zero"),
        (("bands", 0, "min"), 10, "bands", "min: 0"),
        (("bands", 2, "min"), 20, "bands", "increasing"),
        (("scores", "digital"), None, "scores.digital", "required"),
        (("scores", "risk", "features", 1, "name"), "recency_days", "scores.risk.features", "twice"),
        (("scores", "loyalty", "features", 0, "nulls"), "guess", "scores.loyalty.features.0.nulls", "zero"),
        (("version",), "x", "version", "integer"),
    ],
)
def test_invalid_documents_are_refused(path: tuple[Any, ...], value: object, field: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_scores(_broken(path, value))
    assert caught.value.field == field
    assert reason in caught.value.message


def test_unreadable_yaml_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_scores("version: [1\n")
    assert caught.value.field == "file"


# ---- bands ---------------------------------------------------------------------------------------------------------


def _scores(values: dict[int, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"subscriber_id": list(values), **{name: list(values.values()) for name in SCORE_NAMES}},
        schema_overrides=dict.fromkeys(SCORE_NAMES, pl.Float64),
    )


def test_bands_split_at_the_configured_minimums() -> None:
    banded = bands(_scores({1: 0.0, 2: 32.9, 3: 33.0, 4: 65.99, 5: 66.0, 6: 100.0}), CONFIG)
    assert banded.get_column("risk").to_list() == ["low", "low", "medium", "medium", "high", "high"]


def test_band_changes_are_the_crossings_only() -> None:
    before = _scores({1: 20.0, 2: 50.0, 3: 90.0, 4: 10.0})
    after = _scores({1: 30.0, 2: 70.0, 3: 40.0, 5: 99.0}).with_columns(pl.lit(10.0).alias("digital"))
    changes = band_changes(before, after, CONFIG)
    assert changes.columns == ["subscriber_id", "score", "from_band", "to_band"]
    rows = set(changes.iter_rows())
    assert (2, "engagement", "medium", "high") in rows
    assert (3, "risk", "high", "medium") in rows
    assert (2, "digital", "medium", "low") in rows and (3, "digital", "high", "low") in rows
    assert not any(r[0] in (1, 4, 5) for r in rows)  # no crossing, or not in both runs
    assert len(rows) == 10  # subscribers 2 and 3 cross on all five scores


# ---- percentile ranks ----------------------------------------------------------------------------------------------

NULL_POLICIES = ("zero", "median", "neutral", "worst")


def reference_percentiles(values: list[float | None], groups: list[str], nulls: str, weight: float) -> list[float]:
    """The definition, row by row: (values below + (values equal - 1) / 2) / (n - 1) within the row's group, i.e.
    (average rank - 1) / (n - 1); nulls (and NaN) replaced or placed as the policy says; a lone value sits at 0.5."""
    known = [None if v is None or math.isnan(v) else v for v in values]
    filled = list(known)
    for group in set(groups):
        present = [v for v, g in zip(known, groups, strict=True) if g == group and v is not None]
        fill = 0.0 if nulls == "zero" else float(np.median(present)) if nulls == "median" and present else None
        filled = [fill if v is None and g == group else v for v, g in zip(filled, groups, strict=True)]
    out = []
    for value, group in zip(filled, groups, strict=True):
        peers = [v for v, g in zip(filled, groups, strict=True) if g == group and v is not None]
        if value is None:
            out.append((0.0 if weight > 0 else 1.0) if nulls == "worst" else 0.5)
        elif len(peers) < 2:
            out.append(0.5)
        else:
            below, equal = sum(v < value for v in peers), sum(v == value for v in peers)
            out.append((below + (equal - 1) / 2) / (len(peers) - 1))
    return out


SAMPLED = [-2.0, -0.0, 0.0, 1.0, 1.5, 7.0, 1e9, math.nan]


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(st.one_of(st.none(), st.sampled_from(SAMPLED)), st.sampled_from("ab")), max_size=25),
    nulls=st.sampled_from(NULL_POLICIES),
    weight=st.sampled_from([1.0, -2.0]),
    integral=st.booleans(),
    grouped=st.booleans(),
)
def test_both_ways_of_ranking_give_the_average_rank_percentile(
    rows: list[tuple[float | None, str]], nulls: str, weight: float, integral: bool, grouped: bool
) -> None:
    values = [v if v is None or not integral else None if math.isnan(v) else float(int(v)) for v, _ in rows]
    groups = [g if grouped else "" for _, g in rows]
    column = pl.Series("x", values, dtype=pl.Float64)
    frame = pl.DataFrame({"x": column.cast(pl.Int64) if integral else column, "g": groups})
    spec = Feature(name="x", weight=weight, why="test", nulls=nulls)
    rank = scores._rank(spec, "g" if grouped else None, frame.schema)
    by_sort = frame.select(scores._from_sort(rank)).to_series().to_list()
    assert by_sort == pytest.approx(reference_percentiles(values, groups, nulls, weight), rel=1e-15, abs=1e-15)
    if not grouped:  # counting serves the ranks over the whole base; it must agree to the last bit
        counts = scores._value_counts(frame, rank).collect()
        assert frame.select(scores._from_counts(rank, counts)).to_series().to_list() == by_sort


@pytest.mark.parametrize("distinct", [0, 10**9])  # every feature ranked by counting its values, or none
def test_scores_do_not_depend_on_how_a_feature_is_ranked(distinct: int, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = with_subscriber(population(200), STRONG, digital_share_30d=None, on_time_ratio_90d=None)
    chosen = score(frame, CONFIG)
    monkeypatch.setattr(scores, "DISTINCT", distinct)
    assert score(frame, CONFIG).equals(chosen)


# ---- property ------------------------------------------------------------------------------------------------------

POSITIVE = [(name, f.name) for name in SCORE_NAMES for f in CONFIG.score(name).features if f.weight > 0]
BASE = population(12)


@settings(max_examples=60, deadline=None)
@given(
    pick=st.sampled_from(POSITIVE),
    who=st.integers(0, 11),
    bump=st.floats(0.001, 1e9, allow_nan=False),
)
def test_raising_a_positively_weighted_feature_never_lowers_the_score(
    pick: tuple[str, str], who: int, bump: float
) -> None:
    name, feature = pick
    raised = BASE.with_columns(
        pl.when(pl.col("subscriber_id") == who)
        .then(pl.col(feature).cast(pl.Float64) + bump)
        .otherwise(pl.col(feature).cast(pl.Float64))
        .alias(feature)
    )
    assert of(score(raised, CONFIG), who, name) >= of(score(BASE, CONFIG), who, name) - 1e-9


def test_the_default_weights_are_documented() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "scores.md").read_text()
    for name in SCORE_NAMES:
        for f in CONFIG.score(name).features:
            assert f"| `{f.name}` | {f.weight:+g} |" in docs, (name, f.name)
    for band in CONFIG.bands:
        assert f"| `{band.name}` |" in docs
