from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from questline.kit.errors import Invalid
from questline.ml.ltv import lifetime_value, monthly_revenue

AS_OF = dt.date(2026, 4, 15)
REVENUE = pl.DataFrame(
    {
        "subscriber_id": ["a", "a", "a", "a", "a", "b"],
        "month": [dt.date(y, m, 1) for y, m in [(2025, 12), (2026, 1), (2026, 2), (2026, 3), (2026, 4), (2026, 3)]],
        "revenue": [500.0, 20.0, 30.0, 40.0, 999.0, 15.0],
    }
)


def _ltv(churn: dict[str, float], **options: float) -> dict[str, float]:
    frame = pl.DataFrame({"subscriber_id": list(churn), "churn_probability": list(churn.values())})
    result = lifetime_value(REVENUE, frame, as_of=AS_OF, **options)
    return dict(zip(result["subscriber_id"].to_list(), result["ltv"].to_list(), strict=True))


def test_monthly_revenue_uses_whole_months_before_as_of() -> None:
    # January to March only: December is too old, April is not over; b had one month of three
    revenue = monthly_revenue(REVENUE, as_of=AS_OF, history=3).sort("subscriber_id")
    assert revenue["monthly_revenue"].to_list() == [30.0, 5.0]


def test_no_churn_and_no_discount_is_revenue_times_horizon() -> None:
    assert _ltv({"a": 0.0}, horizon=12, discount=0.0)["a"] == pytest.approx(360.0)


def test_geometric_retention_with_discount() -> None:
    q = 0.9 / 1.01
    expected = 30 * q * (1 - q**12) / (1 - q)
    assert _ltv({"a": 0.1}, horizon=12, discount=0.01)["a"] == pytest.approx(expected)
    assert expected == pytest.approx(sum(30 * q**t for t in range(1, 13)))


def test_churn_over_a_longer_window_is_spread_over_its_months() -> None:
    r = (1 - 0.3) ** (1 / 3)
    assert _ltv({"a": 0.3}, horizon=6, discount=0.0, churn_months=3)["a"] == pytest.approx(
        sum(30 * r**t for t in range(1, 7))
    )


def test_riskier_and_silent_subscribers_are_worth_less() -> None:
    values = _ltv({"a": 0.05, "b": 0.05, "c": 0.05})
    assert values["a"] > values["b"] > 0 and values["c"] == 0.0
    assert _ltv({"a": 0.5})["a"] < _ltv({"a": 0.1})["a"]


@pytest.mark.parametrize(
    ("churn", "options", "field"),
    [
        ({"a": 1.5}, {}, "churn_probability"),
        ({"a": 0.1}, {"horizon": 0}, "horizon"),
        ({"a": 0.1}, {"discount": -0.1}, "discount"),
        ({"a": 0.1}, {"history": 0}, "history"),
    ],
)
def test_bad_inputs_name_the_field(churn: dict[str, float], options: dict[str, float], field: str) -> None:
    with pytest.raises(Invalid) as error:
        _ltv(churn, **options)
    assert error.value.field == field


def test_the_horizon_is_configuration(tmp_path: Path) -> None:
    from questline.kit.errors import ConfigError
    from questline.ml.ltv import load_config

    assert load_config().horizon_months == 12
    own = tmp_path / "ltv.yaml"
    own.write_text("horizon_months: 24\nmonthly_discount: 0.0\n")
    assert (load_config(own).horizon_months, load_config(own).monthly_discount) == (24, 0.0)
    own.write_text("horizon_months: 0\n")
    with pytest.raises(ConfigError) as caught:
        load_config(own)
    assert caught.value.field == "horizon_months"
