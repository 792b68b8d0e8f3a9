"""Badge values and levels, as pure functions over frames: each badge's value per subscriber (`values`), the level
it reaches with the progress to the next (`levels`), and the levels a subscriber newly earns (`new_awards`).

Storage happens around these in `badge_service` (`award_badges`, `subscriber_badges`)."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

import polars as pl

from questline.engine.badge_config import (
    LEVELS,
    BadgeBase,
    BadgeConfig,
    MetricBadge,
    MissionsBadge,
    ScoreBadge,
    StreakBadge,
)

Frame = pl.DataFrame | pl.LazyFrame
VALUES = {"subscriber_id": pl.String, "badge_key": pl.String, "value": pl.Float64}
HELD = {"subscriber_id": pl.String, "badge_key": pl.String, "level": pl.Int8}
TOP = len(LEVELS) - 1
B = TypeVar("B", bound=BadgeBase)


def values(
    daily: Frame, scores: Frame, completed: Frame, streaks: Frame, config: BadgeConfig, as_of: dt.date
) -> pl.DataFrame:
    """subscriber_id, badge_key, value: one row per subscriber that the badge's source knows about.

    - `daily`: the daily table (subscriber_id, date, metrics); rows after `as_of` are ignored.
    - `scores`: one scoring snapshot (subscriber_id and the five scores).
    - `completed`: completed, non-control missions (subscriber_id, category, completed_on as a local date).
    - `streaks`: subscriber_id, streak_key, current, longest."""
    parts = [
        _metric_values(daily.lazy(), _of(config, MetricBadge), as_of),
        _score_values(scores.lazy(), _of(config, ScoreBadge)),
        _mission_values(completed.lazy(), _of(config, MissionsBadge), as_of),
        _streak_values(streaks.lazy(), _of(config, StreakBadge)),
    ]
    found = [p for p in parts if p is not None]
    if not found:
        return pl.DataFrame(schema=VALUES)
    # a missing or NaN value (NaN would compare above every threshold) means nothing is known: no row
    return pl.concat(pl.collect_all(found)).filter(pl.col("value").is_finite())


def _of(config: BadgeConfig, kind: type[B]) -> list[B]:
    return [b for b in config.badges if isinstance(b, kind)]


def _long(wide: pl.LazyFrame) -> pl.LazyFrame:
    """One column per badge → one row per (subscriber, badge)."""
    long = wide.unpivot(index="subscriber_id", variable_name="badge_key", value_name="value")
    return long.select(pl.col("subscriber_id").cast(pl.String), "badge_key", pl.col("value").cast(pl.Float64))


def _metric_values(daily: pl.LazyFrame, badges: list[MetricBadge], as_of: dt.date) -> pl.LazyFrame | None:
    if not badges:
        return None
    # one group-by for every metric badge: the daily table is read once
    totals = daily.filter(pl.col("date") <= as_of).group_by("subscriber_id").agg(_metric(b) for b in badges)
    return _long(totals)


def _metric(badge: MetricBadge) -> pl.Expr:
    column = pl.col(badge.metric).cast(pl.Float64)
    total = column.sum() if badge.aggregate == "sum" else (column > 0).sum().cast(pl.Float64)
    return (total / badge.divide_by).alias(badge.key)


def _score_values(scores: pl.LazyFrame, badges: list[ScoreBadge]) -> pl.LazyFrame | None:
    if not badges:
        return None
    return _long(scores.select("subscriber_id", *(pl.col(b.score).alias(b.key) for b in badges)))


def _mission_values(completed: pl.LazyFrame, badges: list[MissionsBadge], as_of: dt.date) -> pl.LazyFrame | None:
    if not badges:
        return None
    done = completed.filter(pl.col("completed_on") <= as_of)
    return _long(done.group_by("subscriber_id").agg(_missions(b) for b in badges))


def _missions(badge: MissionsBadge) -> pl.Expr:
    if badge.count == "categories":
        return pl.col("category").n_unique().alias(badge.key)
    if badge.category is None:
        return pl.len().alias(badge.key)
    return (pl.col("category") == badge.category).sum().alias(badge.key)


def _streak_values(streaks: pl.LazyFrame, badges: list[StreakBadge]) -> pl.LazyFrame | None:
    if not badges:
        return None
    parts = [
        streaks.filter(pl.col("streak_key") == b.streak).select(
            pl.col("subscriber_id").cast(pl.String),
            pl.lit(b.key).alias("badge_key"),
            pl.col(b.use).cast(pl.Float64).alias("value"),
        )
        for b in badges
    ]
    return pl.concat(parts)


class Ladder:
    """Every badge's levels as flat lookup columns, so that a row finds its threshold by position (a gather) rather
    than by joining on the badge key: badge i, level n sits at `i * WIDTH + n`, with level 0's floor (0) first and a
    null past Platinum (no next threshold)."""

    WIDTH = TOP + 2

    def __init__(self, config: BadgeConfig) -> None:
        self.keys = [b.key for b in config.badges]
        self.edges = pl.Series([x for b in config.badges for x in (0.0, *b.thresholds.values, None)], dtype=pl.Float64)
        self.points = pl.Series([x for b in config.badges for x in (0, *b.points.values, None)], dtype=pl.Int64)

    def index(self) -> pl.Expr:
        """The badge's position in the document (null for a badge the document does not have); an enum cast is a
        cheaper lookup than a join or a replace on the key."""
        position = pl.col("badge_key").cast(pl.Enum(self.keys), strict=False).to_physical()
        return position.cast(pl.Int64)

    def threshold(self, level: pl.Expr) -> pl.Expr:
        return pl.lit(self.edges).gather(pl.col(_BADGE) * self.WIDTH + level)

    def reward(self, level: pl.Expr) -> pl.Expr:
        return pl.lit(self.points).gather(pl.col(_BADGE) * self.WIDTH + level)


_BADGE = "_badge"  # the working column holding Ladder.index()


def levels(found: Frame, config: BadgeConfig, *, held: Frame | None = None) -> pl.DataFrame:
    """subscriber_id, badge_key, value, level (0 none .. 4 platinum), next_threshold (null at platinum) and progress
    (0-1) from the level's threshold to the next one's. Values are reached inclusively: exactly the Gold threshold
    is Gold. With `held` (subscriber_id, badge_key, level already awarded) a level never drops below the one held,
    so a falling score keeps its badge and shows progress from the held level; badges held without a value show 0.
    Values of badges the document does not have are left out."""
    ladder = Ladder(config)
    frame = found.lazy().select(*VALUES)
    if held is not None:
        frame = frame.join(held.lazy().select(*HELD), on=["subscriber_id", "badge_key"], how="full", coalesce=True)
        frame = frame.with_columns(pl.col("value").fill_null(0.0), pl.col("level").fill_null(0).alias("held"))
    frame = frame.with_columns(ladder.index().alias(_BADGE)).filter(pl.col(_BADGE).is_not_null())
    reached = pl.sum_horizontal(pl.col("value") >= ladder.threshold(pl.lit(n)) for n in range(1, TOP + 1))
    level = reached if held is None else pl.max_horizontal(reached, pl.col("held"))
    frame = frame.with_columns(level.cast(pl.Int8).alias("level"))
    floor, ceiling = ladder.threshold(pl.col("level")), ladder.threshold(pl.col("level") + 1)
    share = ((pl.col("value") - floor) / (ceiling - floor)).clip(0.0, 1.0)
    progress = pl.when(ceiling.is_null()).then(pl.lit(1.0)).otherwise(share)
    return frame.select(
        "subscriber_id", "badge_key", "value", "level", ceiling.alias("next_threshold"), progress.alias("progress")
    ).collect()


def new_awards(reached: Frame, held: Frame, config: BadgeConfig) -> pl.DataFrame:
    """subscriber_id, badge_key, level, threshold, points, value: every level above the one held up to the one
    reached, so that reaching Gold directly awards Bronze, Silver and Gold - and a re-run, holding them, nothing."""
    ladder = Ladder(config)
    frame = (
        reached.lazy()
        .select("subscriber_id", "badge_key", "value", pl.col("level").alias("reached"))
        .join(held.lazy().select(*HELD), on=["subscriber_id", "badge_key"], how="left")
        .with_columns(pl.col("level").fill_null(0).cast(pl.Int8).alias("held"))
        .filter(pl.col("reached") > pl.col("held"))
        .select(
            "subscriber_id",
            "badge_key",
            "value",
            pl.int_ranges(pl.col("held") + 1, pl.col("reached") + 1, dtype=pl.Int8).alias("level"),
        )
        .explode("level")
        .with_columns(ladder.index().alias(_BADGE))
    )
    return frame.select(
        "subscriber_id",
        "badge_key",
        "level",
        ladder.threshold(pl.col("level")).alias("threshold"),
        ladder.reward(pl.col("level")).alias("points"),
        "value",
    ).collect()
