"""Streaks: per subscriber and definition (`streaks.yaml`), the current and the longest run of qualifying days or
weeks in the operator's time zone, with freezes and outage protection (docs/streaks.md).

`update_streaks` recomputes every streak from the whole daily table up to `as_of` (the pure stage in
`streak_runs`), stores the rows that changed in table `streaks` and announces what subscribers see change in the
outbox: `streak.extended` when a current streak reached one of its definition's milestones (or grew at all, for a
definition without them), `streak.broken` when a streak of two or more that the table held ended. Recomputing from
history is the incremental path: a late event that fills a gap simply yields the repaired streak, so there is no
second way to reach a state, and re-running a day changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import polars as pl
import polars_hash  # noqa: F401  (registers the `chash` expression namespace)
from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from questline.engine.streak_rules import StreakConfig, StreakDef, load_streaks
from questline.engine.streak_runs import SUMMARY, compute, evaluate
from questline.events.outbox import emit
from questline.kit.time import utcnow
from questline.models import OutboxEvent, StreakState
from questline.runtime import Runtime
from questline.scoring.daily import latest_day, refresh_daily, scan_daily

__all__ = ["compute", "evaluate", "load_streaks", "subscriber_streaks", "update_streaks"]

EXTENDED = "streak.extended"
BROKEN = "streak.broken"
KEYS = ("subscriber_id", "streak_key")
STATE = ("current", "longest", "last_period", "freezes_used")
CHUNK = 10_000  # rows per INSERT, and keys per IN (...) list
KEY_LENGTH: int = getattr(OutboxEvent.__table__.c.key.type, "length", None) or 200  # the outbox key column


def update_streaks(rt: Runtime, as_of: dt.date | None = None, *, config: StreakConfig | None = None) -> dict[str, Any]:
    """Bring table `streaks` to the end of `as_of` (default: the latest day in the daily table) and emit events."""
    config = config or load_streaks()
    refresh_daily(rt.lake, rt.events)
    daily = scan_daily(rt.lake)
    as_of = as_of or latest_day(daily)
    with rt.db.session() as session:
        before = _stored(session, [d.key for d in config.streaks])
    result = evaluate(daily, config, as_of, runs_since=_watched_since(before))
    changed, gone = _changes(before, result.summary)
    time = dt.datetime.combine(as_of, dt.time(), tzinfo=rt.settings.tz)
    extended, broken = _extended(before, result.summary, config), _broken(before, result.runs)
    with rt.db.session() as session:
        _upsert(session, changed)
        _delete(session, gone)
        emitted = emit(session, _events(extended, EXTENDED, time, as_of) + _events(broken, BROKEN, time, as_of))
    return {
        "as_of": as_of.isoformat(),
        "subscribers": result.summary.get_column("subscriber_id").n_unique(),
        "changed": changed.height,
        "removed": gone.height,
        "extended": extended.height,
        "broken": broken.height,
        "events": emitted,
        "by_streak": _by_streak(result.summary, config),
    }


def subscriber_streaks(
    rt: Runtime, subscriber_id: str, *, as_of: dt.date | None = None, config: StreakConfig | None = None
) -> list[dict[str, Any]]:
    """Every streak definition, in the document's order, with the subscriber's stored state and whether the period
    holding `as_of` (default: today in the operator's time zone) already counts; `at_risk` when a current streak
    still needs it."""
    config = config or load_streaks()
    today = as_of or utcnow().astimezone(rt.settings.tz).date()
    with rt.db.session() as session:
        rows = session.scalars(select(StreakState).where(StreakState.subscriber_id == subscriber_id)).all()
    held = {row.streak_key: row for row in rows}
    return [_describe(d, held.get(d.key), today) for d in config.streaks]


# ---- reading and writing the table ----------------------------------------------------------------------------------


def _stored(session: Session, keys: list[str]) -> pl.DataFrame:
    columns = [getattr(StreakState, c) for c in SUMMARY]
    rows = session.execute(select(*columns).where(StreakState.streak_key.in_(keys))).all()
    return pl.DataFrame(rows, schema=SUMMARY, orient="row")


def _changes(before: pl.DataFrame, after: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The computed rows that differ from the stored ones (or are new), and the stored keys no longer computed."""
    joined = after.join(before, on=KEYS, how="left", suffix="_stored")
    differs = pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_stored")) for c in STATE)
    changed = joined.filter(differs).select(*SUMMARY)
    return changed, before.join(after, on=KEYS, how="anti").select(*KEYS)


def _upsert(session: Session, changed: pl.DataFrame) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    now = utcnow()
    rows = changed.with_columns(pl.lit(now).alias("updated_at")).to_dicts()
    for start in range(0, len(rows), CHUNK):
        statement = dialect.insert(StreakState)
        updated = {c: getattr(statement.excluded, c) for c in (*STATE, "updated_at")}
        session.execute(
            statement.on_conflict_do_update(index_elements=list(KEYS), set_=updated), rows[start : start + CHUNK]
        )


def _delete(session: Session, gone: pl.DataFrame) -> None:
    pairs = list(gone.iter_rows())
    for start in range(0, len(pairs), CHUNK):
        keys = tuple_(StreakState.subscriber_id, StreakState.streak_key)
        session.execute(delete(StreakState).where(keys.in_(pairs[start : start + CHUNK])))


# ---- what to announce -------------------------------------------------------------------------------------------


def _watched_since(before: pl.DataFrame) -> dict[str, dt.date]:
    """Per definition, the oldest last period of a stored streak of two or more: the runs that may have ended since
    end after it (a weekly streak's weeks would otherwise pull every daily definition's runs back as far)."""
    watched = before.filter(pl.col("current") >= 2).group_by("streak_key").agg(pl.col("last_period").min())
    return dict(watched.iter_rows())


def _extended(before: pl.DataFrame, after: pl.DataFrame, config: StreakConfig) -> pl.DataFrame:
    """Current streaks that grew past a milestone of their definition since the stored value (a new subscriber's
    count from 0), with the highest milestone reached; for a definition without milestones, every growth."""
    joined = after.join(before.select(*KEYS, "current"), on=KEYS, how="left", suffix="_stored")
    previous = pl.col("current_stored").fill_null(0)
    grew = joined.filter(pl.col("current") > previous).with_columns(
        pl.coalesce(*(_milestone(d, pl.col("current"), previous) for d in config.streaks)).alias("milestone")
    )
    announced = grew.filter(pl.col("milestone").is_not_null())
    key = pl.format("{}:{}:{}:{}:{}", pl.lit(EXTENDED), *KEYS, "last_period", "current")
    data = pl.struct(
        pl.col("streak_key").alias("streak"),
        "current",
        "longest",
        previous.alias("previous"),
        "milestone",
        pl.col("last_period").dt.to_string(),
        "freezes_used",
    )
    return announced.select(key.alias("key"), "subscriber_id", data.alias("data"))


def _milestone(definition: StreakDef, current: pl.Expr, previous: pl.Expr) -> pl.Expr:
    """For this definition's rows, the highest milestone in (previous, current] (null if none was passed); the
    current length itself when the definition announces every growth."""
    marks = definition.milestones
    if marks is None:
        reached = current
    else:

        def passed(length: pl.Expr) -> pl.Expr:  # how many milestones a length has reached
            return pl.sum_horizontal(*(length >= m for m in marks))

        highest = passed(current).replace_strict(
            {i + 1: m for i, m in enumerate(marks)}, default=None, return_dtype=pl.Int64
        )
        reached = pl.when(passed(current) > passed(previous)).then(highest)
    return pl.when(pl.col("streak_key") == definition.key).then(reached.cast(pl.Int64))


def _broken(before: pl.DataFrame, runs: pl.DataFrame) -> pl.DataFrame:
    """Stored streaks of two or more whose run has ended: the run holding the stored last period is no longer alive.
    Keyed by the run's last period, so a run repaired by a late event and then ended later is announced again, and
    a run announced once is never announced twice."""
    watched = before.filter(pl.col("current") >= 2).select(*KEYS, pl.col("last_period").alias("seen"))
    held = runs.join(watched, on=KEYS).filter(pl.col("seen").is_between(pl.col("start"), pl.col("end")))
    ended = held.filter(~pl.col("alive") & (pl.col("length") >= 2))
    key = pl.format("{}:{}:{}:{}", pl.lit(BROKEN), *KEYS, "end")
    data = pl.struct(
        pl.col("streak_key").alias("streak"),
        "length",
        pl.col("start").dt.to_string(),
        pl.col("end").dt.to_string().alias("last_period"),
    )
    return ended.select(key.alias("key"), "subscriber_id", data.alias("data"))


def _events(found: pl.DataFrame, kind: str, time: dt.datetime, as_of: dt.date) -> list[dict[str, Any]]:
    stamped = found.with_columns(
        pl.col("data").struct.with_fields(pl.lit(as_of.isoformat()).alias("as_of")), _fitting(pl.col("key"), kind)
    )
    return [
        {"key": row["key"], "type": kind, "subject": row["subscriber_id"], "time": time, "data": row["data"]}
        for row in stamped.iter_rows(named=True)
    ]


def _fitting(key: pl.Expr, kind: str) -> pl.Expr:
    """The key, or its SHA-256 when a very long subscriber id makes it longer than the outbox column (stable across
    versions, unlike polars' own hash: a key must stay the same for a re-run to find it)."""
    digest: pl.Expr = cast(Any, key).chash.sha2_256()
    hashed = pl.format("{}:sha256:{}", pl.lit(kind), digest)
    return pl.when(key.str.len_bytes() > KEY_LENGTH).then(hashed).otherwise(key).alias("key")


def _by_streak(summary: pl.DataFrame, config: StreakConfig) -> dict[str, dict[str, int]]:
    counts = summary.group_by("streak_key").agg(
        pl.len().alias("subscribers"), (pl.col("current") > 0).sum().alias("current"), pl.col("longest").max()
    )
    found = {row.pop("streak_key"): row for row in counts.to_dicts()}
    empty = {"subscribers": 0, "current": 0, "longest": 0}
    return {d.key: {k: int(v or 0) for k, v in found.get(d.key, empty).items()} for d in config.streaks}


# ---- the app's view -------------------------------------------------------------------------------------------------


def period_start(definition: StreakDef, day: dt.date) -> dt.date:
    """The first day of the period holding `day`: the day itself, or its week's Monday."""
    return day if definition.period == "day" else day - dt.timedelta(days=day.weekday())


def _describe(definition: StreakDef, state: StreakState | None, today: dt.date) -> dict[str, Any]:
    current = state.current if state else 0
    last = state.last_period if state else None
    done = last is not None and last >= period_start(definition, today)
    return {
        "key": definition.key,
        "name": definition.name,
        "description": definition.description,
        "period": definition.period,
        "current": current,
        "longest": state.longest if state else 0,
        "last_period": last.isoformat() if last else None,
        "freezes_used": state.freezes_used if state else 0,
        "freezes": definition.freezes.model_dump(),
        "protect_outages": definition.protect_outages,
        "done_this_period": done,
        "at_risk": current > 0 and not done,
    }
