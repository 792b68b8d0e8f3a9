"""Lifetime value: the revenue a subscriber is expected to bring over the next `horizon` months.

    m   = mean monthly revenue over the `history` whole months before `as_of` (a month without revenue counts 0)
    r   = (1 - p) ** (1 / churn_months), the monthly retention implied by the churn probability p, which the churn
          model gives for a window of `churn_months` months
    q   = r / (1 + d), retention discounted by the monthly discount rate d
    LTV = m * (q + q**2 + ... + q**horizon) = m * q * (1 - q**horizon) / (1 - q)   (m * horizon when q = 1)

Month t's revenue is earned only if the subscriber is still there in month t, which has probability r**t; churn is
treated as constant over the horizon, the usual simplification of a geometric retention curve."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from questline.kit.documents import load_document
from questline.kit.errors import Invalid


def monthly_revenue(revenue: pl.DataFrame, *, as_of: dt.date, history: int = 3) -> pl.DataFrame:
    """(subscriber_id, monthly_revenue): mean over the `history` whole months ending before `as_of`'s month."""
    missing = [c for c in ("subscriber_id", "month", "revenue") if c not in revenue.columns]
    if missing:
        raise Invalid(f"missing columns: {', '.join(missing)}", field="revenue")
    if history < 1:
        raise Invalid("at least one month of history", field="history")
    end = as_of.replace(day=1)
    start = _months_before(end, history)
    month = pl.col("month").cast(pl.Date).dt.month_start()
    return (
        revenue.filter((month >= start) & (month < end))
        .group_by("subscriber_id")
        .agg((pl.col("revenue").sum() / history).alias("monthly_revenue"))
    )


def _months_before(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 - count
    return dt.date(index // 12, index % 12 + 1, 1)


def lifetime_value(
    revenue: pl.DataFrame,
    churn: pl.DataFrame,
    *,
    as_of: dt.date,
    horizon: int = 12,
    history: int = 3,
    churn_months: int = 1,
    discount: float = 0.01,
) -> pl.DataFrame:
    """(subscriber_id, monthly_revenue, churn_probability, retention, ltv) for every subscriber in `churn`
    (subscriber_id, churn_probability). Subscribers without revenue in the history window are worth 0."""
    monthly = monthly_revenue(revenue, as_of=as_of, history=history)
    return value_over_horizon(monthly, churn, horizon=horizon, churn_months=churn_months, discount=discount)


def value_over_horizon(
    monthly: pl.DataFrame, churn: pl.DataFrame, *, horizon: int = 12, churn_months: int = 1, discount: float = 0.01
) -> pl.DataFrame:
    """The same value from a monthly revenue rate already known (subscriber_id, monthly_revenue)."""
    _check(churn, horizon=horizon, churn_months=churn_months, discount=discount)
    q = pl.col("retention") / (1 + discount)
    geometric = pl.when(q == 1).then(float(horizon)).otherwise(q * (1 - q.pow(horizon)) / (1 - q))
    return (
        churn.select("subscriber_id", pl.col("churn_probability").cast(pl.Float64))
        .join(monthly.select("subscriber_id", "monthly_revenue"), on="subscriber_id", how="left")
        .with_columns(
            pl.col("monthly_revenue").fill_null(0.0),
            (1 - pl.col("churn_probability")).pow(1 / churn_months).alias("retention"),
        )
        .with_columns((pl.col("monthly_revenue") * geometric).alias("ltv"))
    )


def _check(churn: pl.DataFrame, *, horizon: int, churn_months: int, discount: float) -> None:
    missing = [c for c in ("subscriber_id", "churn_probability") if c not in churn.columns]
    if missing:
        raise Invalid(f"missing columns: {', '.join(missing)}", field="churn")
    p = churn["churn_probability"]
    if p.null_count() or not bool(p.is_between(0, 1).all()):
        raise Invalid("churn probabilities must be present and between 0 and 1", field="churn_probability")
    if horizon < 1:
        raise Invalid("horizon is at least one month", field="horizon")
    if churn_months < 1:
        raise Invalid("churn window is at least one month", field="churn_months")
    if discount < 0:
        raise Invalid("discount rate cannot be negative", field="discount")


class LtvConfig(BaseModel):
    """The lifetime value's configuration (`ml/ltv.yaml`): horizon, the churn model's window, the discount rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon_months: int = Field(default=12, ge=1, le=120)
    churn_months: int = Field(default=1, ge=1, le=24)
    monthly_discount: float = Field(default=0.01, ge=0.0, lt=1.0)


def load_config(path: Path | None = None) -> LtvConfig:
    """The shipped `ltv.yaml`, or an operator's own file; a bad value stops with the field named."""
    return load_document(LtvConfig, path or Path(__file__).with_name("ltv.yaml"))
