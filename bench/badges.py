"""The 14 shipped badges' values and levels for synthetic sources (default 1,000,000 subscribers: 30 days of daily
rows, each day present with the subscriber's own probability, ~60% on average; a scoring snapshot; ~2 M completed
missions; each subscriber's `daily_active` streak) beside the bare baseline measured in the same run: a plain polars
group-by summing, per subscriber, the daily metrics the badges read, and one counting missions and their categories.

Times the pure stages of `award_badges` on frames in memory: `values` (one row per subscriber and badge), `levels`
(the level reached and the progress to the next) and, for a first run with nothing held, `new_awards`. Storage is
not timed. Runs are interleaved, best of `--repeat`.

    .venv/bin/python bench/badges.py [--subscribers 1000000] [--days 30] [--active 0.6] [--missions 2.0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
from typing import get_args

import numpy as np
import polars as pl

from questline.engine.badge_config import BadgeConfig, MetricBadge, load_badges
from questline.engine.badge_levels import HELD, levels, new_awards, values
from questline.missions.template import Category
from questline.scoring.config import SCORE_NAMES
from questline.scoring.daily import empty_daily
from scoring import COUNTS, MONEY_MEANS, PRICES, QUANTITIES
from timing import best_of

AS_OF = dt.date(2026, 11, 30)
AS_OF_DAY = (AS_OF - dt.date(1970, 1, 1)).days


def metrics(config: BadgeConfig) -> list[str]:
    return sorted({b.metric for b in config.badges if isinstance(b, MetricBadge)})


def synthetic_daily(
    rng: np.random.Generator, ids: pl.Series, days: int, active: float, names: list[str]
) -> pl.DataFrame:
    """Rows only on the days a subscriber has events, date by date, each date's rows in subscriber order (as the
    lake's partitions are read); the metrics drawn as bench/scoring.py draws them."""
    n = ids.len()
    rate = np.clip(rng.beta(3, 2, n) * active / 0.6, 0, 1).astype(np.float32)
    sub = np.tile(np.arange(n), days)
    day = np.repeat(np.arange(days), n)
    kept = rng.random(n * days, dtype=np.float32) < rate[sub]
    sub, day, size = sub[kept], day[kept], int(kept.sum())
    columns = {
        "subscriber_id": ids.gather(sub),
        "date": pl.Series(AS_OF_DAY - days + 1 + day, dtype=pl.Int32).cast(pl.Date),
        **{name: _metric(rng, name, size) for name in names if name != "active"},
        "active": np.ones(size, dtype=bool),  # a row is a day with events: calls, texts, data, top-ups or the app
    }
    schema = empty_daily().collect_schema()
    return pl.DataFrame(columns).with_columns(pl.col(name).cast(schema[name]) for name in names)


def _metric(rng: np.random.Generator, name: str, size: int) -> np.ndarray:
    """Counts Poisson, seconds and bytes exponential in whole units, money count x price in cents."""
    if name in COUNTS:
        return rng.poisson(COUNTS[name], size)
    if name in QUANTITIES:
        return np.round(rng.exponential(QUANTITIES[name], size))
    count = PRICES[name]
    price = rng.exponential(MONEY_MEANS[name] / COUNTS[count], size)
    return np.round(rng.poisson(COUNTS[count], size) * price, 2)


def synthetic_sources(
    subscribers: int, days: int, active: float, missions: float, names: list[str], seed: int = 7
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """daily, scores, completed missions and streaks, with the columns `values` reads."""
    rng = np.random.default_rng(seed)
    n = subscribers
    ids = pl.Series("subscriber_id", np.arange(n), dtype=pl.UInt32).cast(pl.String)
    daily = synthetic_daily(rng, ids, days, active, names)
    scores = pl.DataFrame({"subscriber_id": ids} | {name: rng.uniform(0, 100, n) for name in SCORE_NAMES})
    # missions completed over the last 90 days, some subscribers completing many and many none
    done = np.repeat(np.arange(n), rng.poisson(rng.gamma(1.0, missions, n)))
    categories = get_args(Category)
    completed = pl.DataFrame(
        {
            "subscriber_id": ids.gather(done),
            "category": pl.Series(categories).gather(rng.integers(0, len(categories), done.size)),
            "completed_on": pl.Series(AS_OF_DAY - rng.integers(0, 90, done.size), dtype=pl.Int32).cast(pl.Date),
        }
    )
    longest = np.minimum(rng.geometric(1 / 15, n), 90)
    streaks = pl.DataFrame(
        {
            "subscriber_id": ids,
            "streak_key": pl.repeat("daily_active", n, eager=True),
            "current": np.where(rng.random(n) < 0.8, rng.integers(1, longest + 1), 0),
            "longest": longest,
        }
    )
    return daily, scores, completed.sort("completed_on"), streaks


def baseline(daily: pl.DataFrame, completed: pl.DataFrame, names: list[str]) -> int:
    """The daily metrics summed per subscriber, and missions and their categories counted per subscriber."""
    sums, counts = pl.collect_all(
        [
            daily.lazy().group_by("subscriber_id").agg(pl.col(names).cast(pl.Float64).sum()),
            completed.lazy().group_by("subscriber_id").agg(pl.len(), pl.col("category").n_unique()),
        ]
    )
    return sums.height + counts.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--active", type=float, default=0.6)
    parser.add_argument("--missions", type=float, default=2.0, help="completed missions per subscriber, on average")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config = load_badges()
    names = metrics(config)
    daily, scores, completed, streaks = synthetic_sources(
        args.subscribers, args.days, args.active, args.missions, names
    )
    print(
        f"{len(config.badges)} badges; {daily.height:,} daily rows ({args.subscribers:,} subscribers × {args.days} "
        f"days), {completed.height:,} completed missions, {streaks.height:,} streaks"
    )
    found = values(daily, scores, completed, streaks, config, AS_OF)
    reached = levels(found, config)
    held = pl.DataFrame(schema=HELD)
    timed = best_of(
        {
            "baseline": lambda: baseline(daily, completed, names),
            "values": lambda: values(daily, scores, completed, streaks, config, AS_OF).height,
            "levels": lambda: levels(found, config).height,
            "new_awards": lambda: new_awards(reached, held, config).height,
        },
        args.repeat,
    )
    base, (spent, rows), ranked, (awarding, awards) = (
        timed["baseline"][0],
        timed["values"],
        timed["levels"][0],
        timed["new_awards"],
    )
    print(f"baseline group-by of the same metrics: {base:.2f} s")
    print(f"values: {spent:.2f} s ({rows:,} subscriber-badge rows), levels: {ranked:.2f} s")
    print(f"values + levels: {spent + ranked:.2f} s, {(spent + ranked) / base:.2f}× the baseline")
    print(f"new_awards, nothing held: {awarding:.2f} s ({awards:,} awards)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB")


if __name__ == "__main__":
    main()
