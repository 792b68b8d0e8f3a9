"""Awarding badges: read the sources (daily table, scoring snapshot, completed missions, streaks), compute values and
levels with the pure functions of `badge_levels`, and store every level newly reached - the award, its points as a
reward, and `badge.awarded` / `reward.granted` events in the outbox - in one transaction. A level is awarded once: a
re-run finds it held and adds nothing; a value that falls takes nothing back.

Each run also keeps the values it saw in lake table `badge_values` (the latest run only), which the app's query
`subscriber_badges` reads beside the levels held."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import polars as pl
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from questline.engine.badge_config import LEVELS, Badge, BadgeConfig, StreakBadge, load_badges
from questline.engine.badge_levels import HELD, VALUES, levels, new_awards, values
from questline.events.outbox import emit
from questline.models import Assignment, BadgeAward, Reward, StreakState
from questline.runtime import Runtime
from questline.scoring.config import SCORE_NAMES
from questline.scoring.daily import latest_day, scan_daily
from questline.scoring.service import PARTITION as SNAPSHOT_DATE
from questline.scoring.service import SNAPSHOTS

TABLE = "badge_values"  # lake table of the values the latest run saw, partitioned by `as_of`
PARTITION = "as_of"
AWARDED = "badge.awarded"
GRANTED = "reward.granted"
CHUNK = 10_000  # rows per INSERT, and keys per IN (...) list


def award_badges(rt: Runtime, as_of: dt.date | None = None, *, config: BadgeConfig | None = None) -> dict[str, Any]:
    """Award every badge level reached by the end of `as_of` (default: the latest day in the daily table)."""
    config = config or load_badges()
    daily = scan_daily(rt.lake)
    as_of = as_of or latest_day(daily)
    with rt.db.session() as session:
        found = values(
            daily,
            _scores(rt, as_of),
            _completed(session, rt.settings.timezone),
            _streaks(session, config),
            config,
            as_of,
        )
        awards = new_awards(levels(found, config), _held(session), config)
        stored = _store(session, _enrich(awards, config), as_of)
    _keep_values(rt, found, as_of)
    return {
        "as_of": as_of.isoformat(),
        "subscribers": found.get_column("subscriber_id").n_unique(),
        "awarded": awards.height,
        "by_level": {LEVELS[n]: int((awards.get_column("level") == n).sum()) for n in range(1, len(LEVELS))},
        "by_badge": dict(awards.group_by("badge_key").len().sort("badge_key").iter_rows()),
        **stored,
    }


def subscriber_badges(rt: Runtime, subscriber_id: str, *, config: BadgeConfig | None = None) -> list[dict[str, Any]]:
    """Every badge, in the document's order, with the level the subscriber holds, the value the last run saw, the
    next level and its threshold, the progress towards it (0-1) and each level's threshold, points and award date."""
    config = config or load_badges()
    with rt.db.session() as session:
        awarded = session.execute(
            select(BadgeAward.badge_key, BadgeAward.level, BadgeAward.as_of).where(
                BadgeAward.subscriber_id == subscriber_id
            )
        ).all()
    held = (
        pl.DataFrame([(subscriber_id, key, level) for key, level, _ in awarded], schema=HELD, orient="row")
        .group_by("subscriber_id", "badge_key")
        .agg(pl.col("level").max())
    )
    shown = levels(_latest_values(rt, subscriber_id), config, held=held)
    by_key = {row["badge_key"]: row for row in shown.to_dicts()}
    dates = {(key, level): on for key, level, on in awarded}
    return [_describe(badge, by_key.get(badge.key), dates) for badge in config.badges]


# ---- reading the sources -------------------------------------------------------------------------------------------


def _scores(rt: Runtime, as_of: dt.date) -> pl.LazyFrame:
    """The latest scoring snapshot up to `as_of` (empty before the first scoring run)."""
    empty = pl.LazyFrame(schema={"subscriber_id": pl.String} | dict.fromkeys(SCORE_NAMES, pl.Float64))
    snapshots = rt.lake.scan(SNAPSHOTS)
    if snapshots is None:
        return empty
    dated = snapshots.with_columns(pl.col(SNAPSHOT_DATE).cast(pl.Date)).filter(pl.col(SNAPSHOT_DATE) <= as_of)
    day = dated.select(pl.col(SNAPSHOT_DATE).max()).collect().item()
    if day is None:
        return empty
    return dated.filter(pl.col(SNAPSHOT_DATE) == day).select("subscriber_id", *SCORE_NAMES)


def _completed(session: Session, timezone: str) -> pl.DataFrame:
    """subscriber_id, category, completed_on (local date) of every completed mission outside the control group."""
    rows = session.execute(
        select(Assignment.subscriber_id, Assignment.category, Assignment.completed_at).where(
            Assignment.completed_at.is_not(None), Assignment.control.is_(False)
        )
    ).all()
    frame = pl.DataFrame(
        rows, schema={"subscriber_id": pl.String, "category": pl.String, "at": pl.Datetime("us")}, orient="row"
    )
    # SQLite hands back naive UTC times, PostgreSQL aware ones (polars stores both as UTC); dates are the operator's
    local = pl.col("at").dt.replace_time_zone("UTC").dt.convert_time_zone(timezone).dt.date()
    return frame.select("subscriber_id", "category", local.alias("completed_on"))


def _streaks(session: Session, config: BadgeConfig) -> pl.DataFrame:
    keys = sorted({b.streak for b in config.badges if isinstance(b, StreakBadge)})
    rows = session.execute(
        select(StreakState.subscriber_id, StreakState.streak_key, StreakState.current, StreakState.longest).where(
            StreakState.streak_key.in_(keys)
        )
    ).all()
    schema = {"subscriber_id": pl.String, "streak_key": pl.String, "current": pl.Int64, "longest": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _held(session: Session) -> pl.DataFrame:
    """The highest level each subscriber holds of each badge."""
    rows = session.execute(
        select(BadgeAward.subscriber_id, BadgeAward.badge_key, func.max(BadgeAward.level)).group_by(
            BadgeAward.subscriber_id, BadgeAward.badge_key
        )
    ).all()
    return pl.DataFrame(rows, schema=HELD, orient="row")


def _latest_values(rt: Runtime, subscriber_id: str) -> pl.DataFrame:
    """One subscriber's values as the latest award run saw them (none before the first run)."""
    runs = rt.lake.partitions(TABLE)
    frame = rt.lake.scan(TABLE)
    if not runs or frame is None:
        return pl.DataFrame(schema=VALUES)
    latest = pl.col(PARTITION).cast(pl.String) == runs[-1]
    return frame.filter(latest, pl.col("subscriber_id") == subscriber_id).select(*VALUES).collect()


# ---- storing -------------------------------------------------------------------------------------------------------


def _enrich(awards: pl.DataFrame, config: BadgeConfig) -> pl.DataFrame:
    """The awards with the keys that make them idempotent and the reward's reason."""
    names = pl.DataFrame({"badge_key": [b.key for b in config.badges], "name": [b.name for b in config.badges]})
    level_names = pl.DataFrame({"level": range(len(LEVELS)), "level_name": LEVELS}, schema_overrides={"level": pl.Int8})
    ident = pl.format("{}:{}:{}", "subscriber_id", "badge_key", "level")
    return (
        awards.join(names, on="badge_key")
        .join(level_names, on="level")
        .with_columns(
            pl.concat_str(pl.lit("badge:"), ident).alias("reward_key"),
            pl.concat_str(pl.lit(f"{AWARDED}:"), ident).alias("event_key"),
            pl.format("{} badge, {} level", "name", pl.col("level_name").str.to_titlecase()).alias("reason"),
        )
    )


def _store(session: Session, awards: pl.DataFrame, as_of: dt.date) -> dict[str, int]:
    if awards.is_empty():
        return {"rewards": 0, "points": 0, "events": 0}
    time = dt.datetime.combine(as_of, dt.time(), tzinfo=dt.UTC)  # as `score.changed`: the run's day, not the clock
    _insert(session, BadgeAward, _award_rows(awards, as_of))
    # keys already present (awards removed by hand, say) are not granted again: nothing counts twice
    granted = awards.filter(pl.col("points") > 0)
    known = _existing(session, Reward.key, granted["reward_key"])
    granted = granted.filter(~pl.col("reward_key").is_in(sorted(known)))
    _insert(session, Reward, _reward_rows(granted, time))
    events = [*_award_events(awards, as_of, time), *_reward_events(granted, as_of, time)]
    return {"rewards": granted.height, "points": int(granted["points"].sum()), "events": emit(session, events)}


def _award_rows(awards: pl.DataFrame, as_of: dt.date) -> list[dict[str, Any]]:
    return awards.select("subscriber_id", "badge_key", "level", pl.lit(as_of).alias("as_of")).to_dicts()


def _reward_rows(granted: pl.DataFrame, time: dt.datetime) -> list[dict[str, Any]]:
    return granted.select(
        pl.col("reward_key").alias("key"),
        "subscriber_id",
        "points",
        "badge_key",
        "reason",
        pl.lit(time).alias("granted_at"),
    ).to_dicts()


def _award_events(awards: pl.DataFrame, as_of: dt.date, time: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "key": row["event_key"],
            "type": AWARDED,
            "subject": row["subscriber_id"],
            "time": time,
            "data": {
                "badge": row["badge_key"],
                "name": row["name"],
                "level": row["level"],
                "level_name": row["level_name"],
                "threshold": row["threshold"],
                "value": row["value"],
                "points": row["points"],
                "as_of": as_of.isoformat(),
            },
        }
        for row in awards.iter_rows(named=True)
    ]


def _reward_events(granted: pl.DataFrame, as_of: dt.date, time: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "key": f"{GRANTED}:{row['reward_key']}",
            "type": GRANTED,
            "subject": row["subscriber_id"],
            "time": time,
            "data": {
                "reward": row["reward_key"],
                "points": row["points"],
                "badge": row["badge_key"],
                "reason": row["reason"],
                "as_of": as_of.isoformat(),
            },
        }
        for row in granted.iter_rows(named=True)
    ]


def _existing(session: Session, column: Any, keys: Iterable[str]) -> set[str]:
    wanted = list(keys)
    found: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        found.update(session.scalars(select(column).where(column.in_(wanted[start : start + CHUNK]))))
    return found


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    # a Core insert on the table: the ORM's bulk path costs several times the database's own work here
    statement = insert(model.__table__)
    for start in range(0, len(rows), CHUNK):
        session.connection().execute(statement, rows[start : start + CHUNK])


def _keep_values(rt: Runtime, found: pl.DataFrame, as_of: dt.date) -> None:
    """Replace the stored values with this run's; sorted so that one subscriber's rows sit in one row group."""
    rt.lake.replace_partition(TABLE, PARTITION, as_of.isoformat(), found.sort("subscriber_id", "badge_key"))
    for older in rt.lake.partitions(TABLE):
        if older != as_of.isoformat():
            rt.lake.drop_partition(TABLE, PARTITION, older)


# ---- the app's view ------------------------------------------------------------------------------------------------


def _describe(badge: Badge, shown: dict[str, Any] | None, dates: dict[tuple[str, int], dt.date]) -> dict[str, Any]:
    level = int(shown["level"]) if shown else 0
    first = badge.thresholds.values[0]
    return {
        "key": badge.key,
        "name": badge.name,
        "description": badge.description,
        "source": badge.source,
        "unit": badge.unit,
        "level": LEVELS[level],
        "value": shown["value"] if shown else 0.0,
        "next_level": LEVELS[level + 1] if level + 1 < len(LEVELS) else None,
        "next_threshold": shown["next_threshold"] if shown else first,
        "progress": shown["progress"] if shown else 0.0,
        "levels": [
            {
                "level": LEVELS[n],
                "threshold": threshold,
                "points": points,
                "awarded_on": on.isoformat() if (on := dates.get((badge.key, n))) else None,
            }
            for n, (threshold, points) in enumerate(zip(badge.thresholds.values, badge.points.values, strict=True), 1)
        ],
    }
