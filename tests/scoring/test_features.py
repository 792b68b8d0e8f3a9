"""Features over hand-made daily rows (window edges at as_of, trends, ratios, tenure, population), the catalogue and
its documentation, and the whole path on a simulated operator."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from questline.runtime import Runtime
from questline.scoring import features as features_module
from questline.scoring.daily import DAILY_METRICS, EVENT_TYPE_BITS, empty_daily, refresh_daily, scan_daily
from questline.scoring.features import FEATURES, SUMMED, WINDOWS, features
from questline.simulate import simulate
from questline.sources import service
from questline.sources.sync import sync

AS_OF = dt.date(2026, 11, 30)
DOCS = (Path(__file__).parents[2] / "docs" / "features.md").read_text()
SCHEMA = empty_daily().collect_schema()


def day(age: int, sub: str = "a", **metrics: Any) -> dict[str, Any]:
    """A daily row `age` days before AS_OF (negative: after it); metrics default to zero / empty."""
    row: dict[str, Any] = {name: 0 for name, dtype in SCHEMA.items() if dtype.is_numeric()}
    row |= {"subscriber_id": sub, "date": AS_OF - dt.timedelta(days=age), "active": False}
    row |= {"plan": None, "home_cell": None}
    return row | {"features": [], **metrics}


def table(*rows: dict[str, Any]) -> pl.LazyFrame:
    return pl.DataFrame(list(rows), schema=SCHEMA).lazy()


def feature(name: str, *rows: dict[str, Any], sub: str = "a") -> Any:
    out = features(table(*rows), AS_OF).filter(pl.col("subscriber_id") == sub)
    assert out.height == 1
    return out.item(0, name)


# Window edges: windows end at AS_OF inclusive, so age 6 is the last day of the 7-day window and age 89 of the 90.
EDGES = [
    (0, (1, 1, 1)),
    (6, (1, 1, 1)),
    (7, (0, 1, 1)),
    (29, (0, 1, 1)),
    (30, (0, 0, 1)),
    (89, (0, 0, 1)),
    (90, (0, 0, 0)),
    (-1, (0, 0, 0)),  # after AS_OF: not yet
]


@pytest.mark.parametrize(("age", "expected"), EDGES)
def test_window_sums_and_their_edges(age: int, expected: tuple[int, ...]) -> None:
    fives: dict[str, Any] = dict.fromkeys(SUMMED, 5)
    rows = [day(age, **fives), day(95, activations=1)]  # activated: listed even with no activity
    out = features(table(*rows), AS_OF).row(0, named=True)
    for metric in SUMMED:
        for window, inside in zip(WINDOWS, expected, strict=True):
            assert out[f"{metric}_{window}d"] == 5 * inside, (metric, window)


CASES = [
    ("active_days_7d", [day(0, active=True), day(6, active=True), day(7, active=True), day(3)], 2),
    ("active_days_90d", [day(0, active=True), day(89, active=True), day(90, active=True)], 2),
    ("app_active_days_30d", [day(0, app_events=3), day(29, app_events=1), day(30, app_events=1), day(1)], 2),
    ("trend_voice_s", [day(0, voice_s=10.0), day(29, voice_s=0.0), day(30, voice_s=4.0), day(59, voice_s=0.0)],
     math.log(11 / 5)),
    ("trend_revenue", [day(60, revenue=100.0), day(0)], 0.0),  # day 60 is outside both halves
    ("trend_active_days", [day(0, active=True), day(45, active=True), day(50, active=True)], math.log(2 / 3)),
    ("trend_app_events", [day(0, app_events=3)], math.log(4)),
    ("trend_data_bytes", [day(31, data_bytes=1e6)], math.log(1 / (1e6 + 1))),
    ("recency_days", [day(3, active=True), day(1), day(10, active=True)], 3),
    ("recency_days", [day(0)], 365),
    ("recency_days", [day(0), day(400, active=True)], 365),
    ("recency_days", [day(0), day(200, active=True)], 200),
    ("distinct_features_30d", [day(0, features=["a", "b"]), day(29, features=["b", "c"]), day(30, features=["d"])], 3),
    ("distinct_features_30d", [day(0)], 0),
    ("variety_30d", [day(0, event_types=EVENT_TYPE_BITS["sms"] | EVENT_TYPE_BITS["recharge"]),
                     day(20, event_types=EVENT_TYPE_BITS["sms"] | EVENT_TYPE_BITS["app_login"]),
                     day(40, event_types=EVENT_TYPE_BITS["complaint"])], 3),
    ("digital_share_30d", [day(0, recharge_count=3, recharge_digital_count=1), day(10, recharge_count=1)], 0.25),
    ("digital_share_30d", [day(0), day(40, recharge_count=1, recharge_digital_count=1)], None),
    ("on_time_ratio_90d", [day(0, payment_count=1, payments_on_time=1), day(80, payment_count=1)], 0.5),
    ("on_time_ratio_90d", [day(0)], None),
    ("churn_signals_30d", [day(0, port_out_requests=1), day(29, deactivations=1), day(30, port_out_requests=1)], 2),
    ("tenure_days", [day(0), day(100, activations=1), day(120)], 100),
    ("tenure_days", [day(0), day(120)], 120),
    ("plan", [day(0), day(100, plan="old"), day(20, plan="new")], "new"),
    ("plan", [day(0)], None),
    ("plan", [day(0, plan="now"), day(-1, plan="future")], "now"),
    ("home_cell", [day(0, home_cell="c2"), day(1, home_cell="c1"), day(2, home_cell="c1"), day(3)], "c1"),
    ("home_cell", [day(0, home_cell="c2"), day(1, home_cell="c1")], "c1"),  # of equals, the smallest
    ("home_cell", [day(0, home_cell="c2"), day(7, home_cell="c1"), day(8, home_cell="c1"), day(-1, home_cell="c1")],
     "c2"),  # only the last 7 days up to as_of count
    ("home_cell", [day(0), day(10, home_cell="c1")], None),
    ("days_observed", [day(0), day(120)], 121),
]  # fmt: skip


@pytest.mark.parametrize(("name", "rows", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_feature(name: str, rows: list[dict[str, Any]], expected: Any) -> None:
    got = feature(name, *rows)
    if isinstance(expected, float):
        assert got == pytest.approx(expected)
    else:
        assert got == expected


def test_population_is_recent_activity_or_an_activation() -> None:
    rows = [
        day(0, sub="recent"),
        day(89, sub="edge"),
        day(200, sub="activated", activations=1),
        day(90, sub="gone"),
        day(-1, sub="future", activations=1),
    ]
    out = features(table(*rows), AS_OF)
    assert out.get_column("subscriber_id").to_list() == ["activated", "edge", "recent"]
    assert out.filter(pl.col("subscriber_id") == "activated").item(0, "tenure_days") == 200


def random_daily(seed: int = 3, subscribers: int = 40) -> pl.LazyFrame:
    """Random rows from 200 days before AS_OF to 3 after, whole-number metrics so that every sum is exact."""
    rng = np.random.default_rng(seed)
    rows = []
    for sub, age in {(int(rng.integers(subscribers)), int(rng.integers(-3, 200))) for _ in range(1500)}:
        metrics = {name: int(rng.poisson(1.0)) for name in SUMMED} | {"activations": int(rng.random() < 0.02)}
        chosen = rng.choice(["a", "b", "c"], int(rng.integers(0, 3)), replace=False)
        extra = {"plan": rng.choice(["s", "m"]) if rng.random() < 0.1 else None, "features": sorted(chosen)}
        rows.append(day(age, f"s{sub}", active=bool(rng.random() < 0.7), event_types=int(rng.integers(0, 64)),
                        recharge_digital_count=int(rng.poisson(0.5)), **metrics, **extra))  # fmt: skip
    return table(*rows)


@pytest.mark.parametrize("days", [1, 4])
def test_passes_over_the_days_add_up_to_one(days: int, monkeypatch: pytest.MonkeyPatch) -> None:
    daily = random_daily()
    monkeypatch.setattr(features_module, "PASS_DAYS", 100)
    monkeypatch.setattr(features_module, "OLDER_PASS_DAYS", 1000)
    whole = features(daily, AS_OF)
    monkeypatch.setattr(features_module, "PASS_DAYS", days)
    monkeypatch.setattr(features_module, "OLDER_PASS_DAYS", days)
    assert_frame_equal(features(daily, AS_OF), whole)
    assert whole.height > 30 and whole.get_column("tenure_days").max() > 150  # long history, older days included


def test_catalogue_matches_the_columns_and_the_docs() -> None:
    out = features(table(day(0)), AS_OF)
    assert out.columns == ["subscriber_id", *(f.name for f in FEATURES)]
    for f in FEATURES:
        assert f"| `{f.name}` |" in DOCS, f.name
    for name in DAILY_METRICS:
        assert f"| `{name}` |" in DOCS, name


def test_empty_daily_gives_no_rows() -> None:
    assert features(empty_daily(), AS_OF).is_empty()


def test_simulated_operator_end_to_end(rt: Runtime, tmp_path: Path) -> None:
    truth = simulate(tmp_path / "operator", subscribers=60, days=6, seed=4)
    with rt.db.session() as session:
        for spec in service.load_document(tmp_path / "operator" / "sources.yaml"):
            service.save(session, spec)
    sync(rt)
    assert refresh_daily(rt.lake, rt.events).rebuilt
    daily = scan_daily(rt.lake)
    last = daily.select(pl.col("date").max()).collect().item()
    out = features(daily, last)
    assert out.get_column("subscriber_id").is_unique().all()
    assert out.height <= daily.select(pl.col("subscriber_id").n_unique()).collect().item()
    total = daily.select(pl.col("voice_s").sum()).collect().item()
    assert out.get_column("voice_s_90d").sum() == pytest.approx(total)
    assert truth is not None
