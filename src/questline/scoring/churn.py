"""The churn probability every stage reads - lifetime value, the value of retention missions, the lifetime value
check: the active churn model's where it gave one, else a heuristic from the Risk score."""

from __future__ import annotations

import polars as pl

CHURN = "churn_probability"


def from_risk(base_churn: float) -> pl.Expr:
    """A monthly churn probability from Risk, which is a percentile rank (0-100), not a probability: the operator's
    average monthly churn (`QUESTLINE_BASE_CHURN`) at the median Risk, four times it at the top, none at the bottom."""
    return (base_churn * (pl.col("risk") / 50) ** 2).clip(0.0, 1.0)


def churn_probability(base_churn: float, months: int = 1) -> pl.Expr:
    """The probability of churning within `months` (the churn model's window): the model's, else `from_risk`'s
    monthly probability compounded over the window."""
    heuristic = 1 - (1 - from_risk(base_churn)) ** months
    return pl.coalesce(pl.col(CHURN).cast(pl.Float64), heuristic).clip(0.0, 1.0).alias(CHURN)
