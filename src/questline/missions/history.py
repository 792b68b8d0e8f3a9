"""What the generator knows of each subscriber beyond the scoring snapshot, from the daily table in one group-by:

- `ever_<event_type>`: the subscriber had such an event on or before as_of (e.g. `ever_app_install`);
- `<metric>_<N>d`: the sum of a daily metric over the N days up to as_of (e.g. `recharge_count_90d`);
- personal statistics for targets (`stat_column`): a quantile of the subscriber's non-zero daily values of a metric.

Only the columns the templates refer to are computed."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

import polars as pl

from questline.kit.errors import ConfigError
from questline.missions.template import Personalise
from questline.scoring.daily import EVENT_TYPE_BITS, NUMERIC_METRICS

EVER = "ever_"
_WINDOWED = re.compile(r"^(?P<metric>[a-z][a-z0-9_]*)_(?P<days>\d+)d$")
MAX_DAYS = 366


def stat_column(spec: Personalise) -> str:
    return f"stat_{spec.metric}_q{round(spec.quantile * 100)}_{spec.days}d"


def is_history_column(name: str) -> bool:
    return name.startswith(EVER) or _WINDOWED.match(name) is not None


def history(daily: pl.LazyFrame, as_of: dt.date, columns: Iterable[str], stats: Iterable[Personalise]) -> pl.DataFrame:
    """subscriber_id and the requested history columns, for every subscriber in the daily table up to as_of."""
    exprs = {name: _column(name, as_of) for name in sorted(set(columns))}
    for spec in stats:
        exprs[stat_column(spec)] = _quantile(spec, as_of)
    frame = daily.filter(pl.col("date") <= as_of)
    if not exprs:
        return frame.select("subscriber_id").unique().collect()
    aggregated = frame.group_by("subscriber_id").agg(expr.alias(name) for name, expr in exprs.items())
    return aggregated.collect()


def _column(name: str, as_of: dt.date) -> pl.Expr:
    if name.startswith(EVER):
        event_type = name.removeprefix(EVER)
        if event_type not in EVENT_TYPE_BITS:
            raise ConfigError(f"{name!r}: {event_type!r} is not an event type", field="eligibility")
        return (pl.col("event_types") & EVENT_TYPE_BITS[event_type]).max() > 0
    match = _WINDOWED.match(name)
    if match is None:
        raise ConfigError(f"{name!r} is neither ever_<event type> nor <daily metric>_<days>d", field="eligibility")
    metric, days = match["metric"], int(match["days"])
    if metric not in NUMERIC_METRICS or not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"{name!r}: no daily metric {metric!r} or days not in 1-{MAX_DAYS}", field="eligibility")
    recent = pl.col("date") > as_of - dt.timedelta(days=days)
    return pl.when(recent).then(pl.col(metric)).otherwise(0).sum().cast(pl.Float64)


def _quantile(spec: Personalise, as_of: dt.date) -> pl.Expr:
    if spec.metric not in NUMERIC_METRICS:
        raise ConfigError(f"{spec.metric!r} is not a daily metric", field="personalise.metric")
    value = pl.col(spec.metric).cast(pl.Float64)
    recent = (pl.col("date") > as_of - dt.timedelta(days=spec.days)) & (value > 0)
    return value.filter(recent).quantile(spec.quantile, interpolation="linear")
