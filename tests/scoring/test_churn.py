"""The one churn probability lifetime value and retention missions read: the model's, else one from Risk."""

from __future__ import annotations

import polars as pl
import pytest

from questline.scoring.churn import churn_probability


def probabilities(risk: list[float], model: list[float | None], *, base: float = 0.03, months: int = 1) -> list[float]:
    frame = pl.DataFrame(
        {"risk": risk, "churn_probability": model}, schema={"risk": pl.Float64, "churn_probability": pl.Float64}
    )
    return frame.select(churn_probability(base, months)).to_series().to_list()


def test_without_a_model_the_base_churn_is_scaled_by_risk() -> None:
    assert probabilities([0.0, 50.0, 100.0], [None, None, None]) == pytest.approx([0.0, 0.03, 0.12])


def test_a_models_probability_wins_where_it_gave_one() -> None:
    assert probabilities([100.0, 100.0], [0.5, None]) == pytest.approx([0.5, 0.12])


def test_over_a_longer_window_the_monthly_heuristic_compounds() -> None:
    assert probabilities([50.0], [None], months=3) == pytest.approx([1 - 0.97**3])
    assert probabilities([50.0], [0.2], months=3) == pytest.approx([0.2])  # the model was trained for that window


def test_it_stays_a_probability() -> None:
    assert probabilities([100.0], [None], base=0.5) == [1.0]
