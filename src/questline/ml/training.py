"""Next best offer and lifetime value versions from the lake, each checked on a time-based holdout, as the churn model
is (`ml/churn.py`). Both read the subscribers as a scoring run sees them at the cut-off (`scoring.service.score_day`,
with the active model versions), so that what they learn or check matches what the scoring run will use.

Next best offer: the recommender learns from the bundle purchases (naming a product) up to the cut-off,
`as_of - holdout_days`, with the segments at that day; the offers it would have made then are compared with the
products subscribers bought in the holdout days. The stored version is the model checked, so its metrics describe it.

Lifetime value: nothing is fitted, so the version pins the configuration (`ml/ltv.yaml`). Its check: at the cut-off,
`as_of - 30 * check_months` days, the first `check_months` terms of the formula without discounting,
    predicted = run rate x (r + r**2 + ... + r**check_months),
against the revenue each subscriber actually brought in the `30 * check_months` days after it, beside the baseline
that ignores churn (run rate x check_months)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from questline.kit.errors import Invalid, NotFound
from questline.ml import ltv, nbo, registry
from questline.ml.churn import latest_date
from questline.runtime import Runtime
from questline.scoring.churn import CHURN, churn_probability
from questline.scoring.daily import scan_daily
from questline.scoring.service import score_day

ID = "subscriber_id"
MONTH_DAYS = 30  # the run rate is the last 30 days' revenue: a "month" of the check is 30 days


@dataclass(frozen=True)
class Training:
    kind: str
    version: int
    metrics: dict[str, Any]
    features: list[str]
    window: tuple[dt.date, dt.date]

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": self.version, **self.metrics, "features": self.features}


def train_nbo(rt: Runtime, *, as_of: dt.date | None = None, config: nbo.NboConfig | None = None) -> Training:
    """Learn the recommender up to the cut-off, check its offers on the holdout days, register it (inactive)."""
    config = config or nbo.load_config()
    last = as_of or latest_date(rt)
    cutoff = last - dt.timedelta(days=config.holdout_days)
    first = _first_day(rt, last)
    if cutoff < first:
        raise Invalid(
            f"daily history {first} to {last} is shorter than the {config.holdout_days} holdout days", field="as_of"
        )
    learned = nbo.lake_purchases(rt, end=cutoff)
    if learned.is_empty():
        raise NotFound(f"no bundle purchase naming a product on or before {cutoff}: nothing to learn", field="as_of")
    held = nbo.holdings(learned)
    segments = score_day(rt, scan_daily(rt.lake), cutoff).frame.select(ID, "segment")
    model = nbo.fit(held, segments, prior=config.prior, affinity_weight=config.affinity_weight, offers=config.offers)
    bought = nbo.lake_purchases(rt, start=cutoff + dt.timedelta(days=1), end=last)
    try:
        checked = nbo.evaluate(model, held, segments, bought)
    except Invalid as error:
        if error.field != "bought":
            raise
        raise Invalid(
            f"nobody bought a product they did not hold from {cutoff + dt.timedelta(days=1)} to {last}: "
            "nothing to check the offers on (a later --as-of or more holdout days)",
            field="as_of",
        ) from None
    window = (first, cutoff)  # the days whose purchases it learned from
    metrics: dict[str, Any] = {
        **checked,
        "holdout_from": (cutoff + dt.timedelta(days=1)).isoformat(),
        "holdout_to": last.isoformat(),
        "train_purchases": learned.height,
        "train_subscribers": segments.height,
        "products": len(model.products),
        "segments": model.popularity["segment"].n_unique(),
        "prior": config.prior,
        "affinity_weight": config.affinity_weight,
        "as_of": last.isoformat(),
    }
    features = ["products held", "segment"]
    name = f"co-occurrence and segment popularity to {cutoff.isoformat()}"
    params = {"trained_on": "lake", "config": config.model_dump()}
    row = registry.save_model(
        rt, model, kind="nbo", name=name, metrics=metrics, features=features, params=params, window=window
    )
    return Training("nbo", row.version, metrics, features, window)


def train_ltv(
    rt: Runtime, *, as_of: dt.date | None = None, config: ltv.LtvConfig | None = None, check_months: int = 1
) -> Training:
    """Check the lifetime value formula with this configuration on the months before `as_of`, register the
    configuration as a new (inactive) version."""
    config = config or ltv.load_config()
    if not 1 <= check_months <= 12:
        raise Invalid("check between 1 and 12 months", field="check_months")
    last = as_of or latest_date(rt)
    days = MONTH_DAYS * check_months
    cutoff = last - dt.timedelta(days=days)
    first = _first_day(rt, last)
    if cutoff - first < dt.timedelta(days=MONTH_DAYS - 1):  # the run rate at the cut-off needs 30 days of history
        raise Invalid(
            f"daily history {first} to {last} is too short to check {check_months} month(s): "
            f"{days + MONTH_DAYS} days needed",
            field="as_of",
        )
    daily = scan_daily(rt.lake)
    day = score_day(rt, daily, cutoff)
    run_rate = day.features.select(ID, pl.col("revenue_30d").cast(pl.Float64).alias("monthly_revenue"))
    churn = day.frame.select(ID, churn_probability(rt.settings.base_churn, config.churn_months))
    horizon = {"horizon": check_months, "churn_months": config.churn_months}
    predicted = ltv.value_over_horizon(run_rate, churn, discount=0.0, **horizon).select(ID, "ltv")
    later = (pl.col("date") > cutoff) & (pl.col("date") <= last)
    actual = daily.filter(later).group_by(ID).agg(pl.col("revenue").sum().cast(pl.Float64).alias("actual")).collect()
    table = (
        predicted.join(run_rate, on=ID, how="left")
        .join(actual, on=ID, how="left")
        .select(
            pl.col("ltv").alias("predicted"),
            (pl.col("monthly_revenue").fill_null(0.0) * check_months).alias("baseline"),
            pl.col("actual").fill_null(0.0),
        )
    )
    active_churn = registry.active(rt, "churn")
    metrics: dict[str, Any] = {
        **config.model_dump(),
        **_value_check(table),
        "check_months": check_months,
        "check_from": (cutoff + dt.timedelta(days=1)).isoformat(),
        "check_to": last.isoformat(),
        "churn_source": day.churn_model or "base churn x (risk / 50)^2 (no churn model)",
        # a churn model that learned from the checked days makes the check look better than it is
        "churn_overlaps_check": bool(
            day.churn_model and active_churn and active_churn.trained_to and active_churn.trained_to > cutoff
        ),
        "as_of": last.isoformat(),
    }
    window = (cutoff - dt.timedelta(days=MONTH_DAYS - 1), last)  # the run rate's days, then the checked days
    features = ["revenue_30d", CHURN]
    name = f"{config.horizon_months} months, {config.monthly_discount:.2%} a month, checked to {last.isoformat()}"
    params = {"config": config.model_dump(), "check_months": check_months}
    row = registry.save_model(
        rt, config, kind="ltv", name=name, metrics=metrics, features=features, params=params, window=window
    )
    return Training("ltv", row.version, metrics, features, window)


def _value_check(table: pl.DataFrame) -> dict[str, Any]:
    """Errors of the predicted and baseline revenue against the actual revenue, one row per subscriber."""
    predicted, baseline, actual = (table[c].to_numpy() for c in ("predicted", "baseline", "actual"))
    total = float(actual.sum())
    return {
        "subscribers": table.height,
        "mean_actual": float(actual.mean()),
        "mean_predicted": float(predicted.mean()),
        "mae": float(np.abs(predicted - actual).mean()),
        "baseline_mae": float(np.abs(baseline - actual).mean()),
        "correlation": _correlation(table, "predicted"),
        "rank_correlation": _correlation(table.select(pl.all().rank()), "predicted"),
        "baseline_correlation": _correlation(table, "baseline"),
        "total_ratio": float(predicted.sum()) / total if total else None,
    }


def _correlation(table: pl.DataFrame, column: str) -> float | None:
    """Pearson's correlation of `column` with `actual`; None when either is constant."""
    value = table.select(pl.corr(column, "actual")).item()
    return None if value is None or not np.isfinite(value) else float(value)


def _first_day(rt: Runtime, last: dt.date) -> dt.date:
    """The first active day of the daily table up to `last` (activations years back are not history)."""
    daily = scan_daily(rt.lake).filter((pl.col("date") <= last) & pl.col("active"))
    first = daily.select(pl.col("date").min()).collect().item()
    if first is None:
        raise NotFound(f"no active day on or before {last}", field="as_of")
    assert isinstance(first, dt.date)
    return first
