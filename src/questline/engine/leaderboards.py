"""Leaderboards: standings computed by one pure, vectorised function, stored as lake snapshots, read by slicing.

`standings` ranks every subscriber of a board's scope for the period holding `as_of`. Ties: equal values share a
rank and the next rank skips ("competition" ranking: 1, 2, 2, 4); among equals the listing order is by
`subscriber_id`, so a listing is the same on every run. Values are compared after rounding to 6 decimal places, so
sums of the same amounts added in a different order still tie.

`refresh_leaderboards` stores each board's standings as lake table `leaderboards`, one partition per board and
period start (`<key>@<start>`, `<key>@all` for all_time), replaced atomically and sorted by (scope, place), where
`place` is the 1-based position in the listing within the scope. Reads (`leaderboard_reads`) then find a scope by
binary search and slice it, never re-rank."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl

from questline.engine.leaderboard_config import (
    EVERYONE,
    SHIPPED,
    Board,
    LeaderboardConfig,
    MetricBoard,
    ScoreBoard,
    load_leaderboards,
    shipped,
)
from questline.engine.leaderboard_reads import Entry, Listing, around, boards, top
from questline.engine.leaderboard_store import TABLE, partition_value, store
from questline.kit.errors import Invalid
from questline.runtime import Runtime
from questline.scoring.daily import PARTITION as DATE
from questline.scoring.daily import latest_day, refresh_daily, scan_daily
from questline.scoring.service import PARTITION as SNAPSHOT_DATE
from questline.scoring.service import SNAPSHOTS, snapshot

__all__ = [
    "SHIPPED",
    "TABLE",
    "Board",
    "Entry",
    "LeaderboardConfig",
    "Listing",
    "MetricBoard",
    "ScoreBoard",
    "around",
    "boards",
    "load_leaderboards",
    "period_totals",
    "rank",
    "ranked",
    "refresh_leaderboards",
    "standings",
    "top",
]

DECIMALS = 6
NO_SCORES = pl.DataFrame(schema={"subscriber_id": pl.String})
STANDINGS_SCHEMA = pl.Schema(
    {
        "scope": pl.String(),
        "place": pl.UInt32(),
        "rank": pl.UInt32(),
        "subscriber_id": pl.String(),
        "value": pl.Float64(),
    }
)


def standings(daily: pl.LazyFrame, scores: pl.DataFrame, board: Board, as_of: dt.date) -> pl.DataFrame:
    """Every subscriber on `board` for the period holding `as_of`: scope, place, rank, subscriber_id, value, sorted
    by (scope, place). `daily` is the daily table (local dates); `scores` a scoring snapshot, read for score boards
    and for the scope column."""
    totals = period_totals(daily, [board], as_of) if isinstance(board, MetricBoard) else None
    return ranked(totals, scores, board)


def period_totals(daily: pl.LazyFrame, boards: Sequence[MetricBoard], as_of: dt.date) -> pl.DataFrame:
    """Per subscriber, each metric of `boards` (which share one period) added up over the period holding `as_of`:
    one group-by serves every board of a period."""
    start, _ = boards[0].bounds(as_of)
    window = pl.col(DATE) <= as_of  # never a day after as_of, even when the lake already holds it
    if start is not None:
        window &= pl.col(DATE) >= start
    metrics = sorted({b.metric for b in boards})
    return daily.filter(window).group_by("subscriber_id").agg(pl.col(metrics).sum()).collect()


def ranked(totals: pl.DataFrame | None, scores: pl.DataFrame, board: Board) -> pl.DataFrame:
    """The standings of one board from its period's totals (a metric board) or from the snapshot (a score board)."""
    if isinstance(board, MetricBoard):
        assert totals is not None, "a metric board ranks its period's totals"
        value = pl.col(board.metric).cast(pl.Float64) / board.divide_by
        values = totals.lazy().select("subscriber_id", value.round(DECIMALS).alias("value"))
    else:
        values = _score_values(scores, board)
    scoped = _scoped(values, scores, board.scope)
    if board.above is not None:
        scoped = scoped.filter(pl.col("value") > board.above)
    return rank(scoped.collect())


def rank(values: pl.DataFrame) -> pl.DataFrame:
    """Competition ranks within each scope from (scope, subscriber_id, value), in listing order. One sort, then a
    scan: a tie group's rank is the place of its first row."""
    first_of_tie = (pl.col("value") != pl.col("value").shift()) | (pl.col("scope") != pl.col("scope").shift())
    return (
        values.lazy()
        .sort("scope", "value", "subscriber_id", descending=[False, True, False])
        .with_columns((pl.int_range(pl.len(), dtype=pl.UInt32) + 1).over("scope").alias("place"))
        .with_columns(pl.when(first_of_tie.fill_null(True)).then(pl.col("place")).forward_fill().alias("rank"))
        .select(STANDINGS_SCHEMA.names())
        .collect()
        .cast(dict(STANDINGS_SCHEMA))  # type: ignore[arg-type]
    )


def _score_values(scores: pl.DataFrame, board: ScoreBoard) -> pl.LazyFrame:
    _require(scores, board.score, "score")
    value = pl.col(board.score).cast(pl.Float64).round(DECIMALS).alias("value")
    return scores.lazy().select("subscriber_id", value).drop_nulls("value")


def _scoped(values: pl.LazyFrame, scores: pl.DataFrame, scope: str) -> pl.LazyFrame:
    """Values with their scope; in a column scope, subscribers without a value of that column are on no board."""
    if scope == EVERYONE:
        return values.with_columns(pl.lit(EVERYONE).alias("scope"))
    _require(scores, scope, "scope")
    scopes = scores.lazy().select("subscriber_id", pl.col(scope).cast(pl.String).alias("scope")).drop_nulls("scope")
    return values.join(scopes, on="subscriber_id", how="inner")


def _require(scores: pl.DataFrame, column: str, field: str) -> None:
    if column not in scores.columns:
        raise Invalid(f"the scoring snapshot has no column {column!r}", field=field)


# ---- the service ---------------------------------------------------------------------------------------------------


def refresh_leaderboards(
    rt: Runtime, as_of: dt.date | None = None, *, config: LeaderboardConfig | None = None
) -> dict[str, Any]:
    """Store every board's standings for the period holding `as_of` (default: the latest day in the lake). A board
    that needs the scoring snapshot (a score, or a column scope) is skipped with its reason while there is none, or
    while the snapshot lacks its column (e.g. `region` before the operator adds it)."""
    config = config or shipped()
    refresh_daily(rt.lake, rt.events)
    daily = scan_daily(rt.lake)
    as_of = as_of or latest_day(daily)
    scores, scores_as_of = _scores_as_of(rt, as_of, config)
    stored: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    usable = []
    for board in config.boards:
        reason = _unusable(board, scores)
        if reason:
            skipped.append({"key": board.key, "reason": reason})
        else:
            usable.append(board)
    totals = _totals_by_period(daily, usable, as_of)
    for board in usable:
        frame = ranked(totals.get(board.bounds(as_of)[0]), NO_SCORES if scores is None else scores, board)
        store(rt, board, as_of, frame)
        stored.append(_summary(board, as_of, frame))
    return {
        "as_of": as_of.isoformat(),
        "scores_as_of": scores_as_of and scores_as_of.isoformat(),
        "boards": stored,
        "skipped": skipped,
    }


def _totals_by_period(daily: pl.LazyFrame, boards: list[Board], as_of: dt.date) -> dict[dt.date | None, pl.DataFrame]:
    """The metric boards' totals, one group-by per period start: a period runs from its start to `as_of`, so boards
    with the same start (every monthly board, say) read the same days."""
    by_start: dict[dt.date | None, list[MetricBoard]] = {}
    for board in boards:
        if isinstance(board, MetricBoard):
            by_start.setdefault(board.bounds(as_of)[0], []).append(board)
    return {start: period_totals(daily, group, as_of) for start, group in by_start.items()}


def _scores_as_of(rt: Runtime, as_of: dt.date, config: LeaderboardConfig) -> tuple[pl.DataFrame | None, dt.date | None]:
    """The columns the boards read from the latest scoring snapshot on or before `as_of` (None when there is none)."""
    days = [d for d in map(dt.date.fromisoformat, rt.lake.partitions(SNAPSHOTS)) if d <= as_of]
    if not days or not any(b.needs_snapshot for b in config.boards):
        return None, None
    frame = snapshot(rt, as_of=max(days))
    wanted = {b.scope for b in config.boards} | {b.column for b in config.boards if isinstance(b, ScoreBoard)}
    present = sorted(wanted & set(frame.collect_schema().names()) - {"subscriber_id", SNAPSHOT_DATE})
    return frame.select("subscriber_id", *present).collect(), max(days)


def _unusable(board: Board, scores: pl.DataFrame | None) -> str | None:
    needed = [c for c in (board.column if isinstance(board, ScoreBoard) else None, board.scope) if c and c != EVERYONE]
    if needed and scores is None:
        return "no scoring snapshot on or before as_of: run `questline score` first"
    missing = [c for c in needed if scores is not None and c not in scores.columns]
    return f"the scoring snapshot has no column {missing[0]!r}" if missing else None


def _summary(board: Board, as_of: dt.date, frame: pl.DataFrame) -> dict[str, Any]:
    start, end = board.bounds(as_of)
    return {
        "key": board.key,
        "partition": partition_value(board, as_of),
        "start": start and start.isoformat(),
        "end": end and end.isoformat(),
        "entries": frame.height,
        "scopes": frame.get_column("scope").n_unique(),
    }
