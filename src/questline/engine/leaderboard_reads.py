"""Reading stored standings: a top listing, a subscriber with their neighbours, the boards and their periods.

Standings are sorted by (scope, place), so a scope is a contiguous run of rows found by binary search, and a
listing is a slice of it."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict

from questline.engine.leaderboard_config import EVERYONE, Board, LeaderboardConfig, Period, shipped
from questline.engine.leaderboard_store import load, period_start, pick, stored
from questline.kit.errors import Invalid, NotFound
from questline.runtime import Runtime

MAX_ROWS = 1000  # the most entries one listing returns


class Entry(BaseModel):
    model_config = ConfigDict(frozen=True)

    scope: str
    place: int  # 1-based position in the listing within the scope; equals rank unless tied
    rank: int
    subscriber_id: str
    value: float


class Listing(BaseModel):
    model_config = ConfigDict(frozen=True)

    board: str
    name: str
    source: Literal["metric", "score"]  # a daily metric added up over the period, or the latest snapshot's score
    measure: str  # the metric or score ranked
    unit: str
    period: Period
    start: dt.date | None  # first local date of the period (None: all_time)
    end: dt.date | None  # last local date of the period
    resets_at: dt.datetime | None  # local midnight after `end`, in the operator's time zone
    as_of: dt.date | None  # the standings count days up to and including this one (None: nobody on the board)
    scope: str | None  # None: the first entries of every scope
    ranked: int  # subscribers on the board within `scope` (in all scopes when None)
    entries: list[Entry]
    subscriber: Entry | None = None  # `around`: the subscriber asked about


def top(
    rt: Runtime,
    key: str,
    n: int | None = None,
    scope: str | None = None,
    *,
    as_of: dt.date | None = None,
    config: LeaderboardConfig | None = None,
) -> Listing:
    """The first `n` (default: the board's size) of a scope in listing order; of every scope when `scope` is None
    on a board ranked within a column."""
    board = (config or shipped()).board(key)
    count = _bounded(board.size if n is None else n, "n", 1)
    value = pick(rt, board, as_of)
    frame = load(rt, value)
    if scope is None and board.scope != EVERYONE:
        rows = frame.filter(pl.col("place") <= count)
        return _listing(rt, board, value, frame, None, frame.height, rows)
    lo, hi = _scope_rows(frame, scope or EVERYONE)
    return _listing(rt, board, value, frame, scope or EVERYONE, hi - lo, frame.slice(lo, min(count, hi - lo)))


def around(
    rt: Runtime,
    key: str,
    subscriber_id: str,
    k: int = 5,
    *,
    as_of: dt.date | None = None,
    config: LeaderboardConfig | None = None,
) -> Listing:
    """The subscriber's entry and the `k` entries above and below it in their scope (fewer at either end)."""
    board = (config or shipped()).board(key)
    k = _bounded(k, "k", 0)
    value = pick(rt, board, as_of)
    frame = load(rt, value)
    found = (frame.get_column("subscriber_id") == subscriber_id).arg_true()
    if found.is_empty():
        raise NotFound(f"subscriber {subscriber_id!r} is not on leaderboard {key!r}", field="subscriber_id")
    row = int(found.item(0))
    scope = str(frame.item(row, "scope"))
    lo, hi = _scope_rows(frame, scope)
    first, last = max(lo, row - k), min(hi, row + k + 1)
    listing = _listing(rt, board, value, frame, scope, hi - lo, frame.slice(first, last - first))
    return listing.model_copy(update={"subscriber": _entries(frame.slice(row, 1))[0]})


def boards(rt: Runtime, *, config: LeaderboardConfig | None = None) -> list[dict[str, Any]]:
    """Every definition with its current period: the latest stored standings (None before the first refresh)."""
    return [_described(rt, board) for board in (config or shipped()).boards]


def _described(rt: Runtime, board: Board) -> dict[str, Any]:
    values = stored(rt, board)
    current = None
    if values:
        frame = load(rt, values[-1])
        current = _period(rt, board, values[-1], frame) | {"entries": frame.height}
    return board.model_dump() | {"current": current}


def _period(rt: Runtime, board: Board, value: str, frame: pl.DataFrame) -> dict[str, Any]:
    """The period of a stored partition, and the last day its standings count (None while nobody is on it)."""
    start = period_start(value)
    end = board.bounds(start)[1] if start else None
    as_of = frame.item(0, "as_of") if frame.height else None
    return {"start": start, "end": end, "resets_at": _resets_at(rt, end), "as_of": as_of}


def _scope_rows(frame: pl.DataFrame, scope: str) -> tuple[int, int]:
    """The [lo, hi) rows of a scope (empty when nobody is in it): the frame is sorted by scope, so two binary
    searches find them."""
    scopes = frame.get_column("scope")
    lo, hi = (int(scopes.search_sorted(scope, side=side)) for side in ("left", "right"))
    return lo, hi


def _listing(
    rt: Runtime, board: Board, value: str, frame: pl.DataFrame, scope: str | None, ranked: int, rows: pl.DataFrame
) -> Listing:
    return Listing(
        board=board.key,
        name=board.name,
        source=board.source,
        measure=board.column,
        unit=board.unit,
        period=board.period,
        **_period(rt, board, value, frame),
        scope=scope,
        ranked=ranked,
        entries=_entries(rows),
    )


def _entries(rows: pl.DataFrame) -> list[Entry]:
    return [Entry(**row) for row in rows.select(*Entry.model_fields).to_dicts()]


def _resets_at(rt: Runtime, end: dt.date | None) -> dt.datetime | None:
    if end is None:
        return None
    return dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=rt.settings.tz)


def _bounded(value: int, field: str, least: int) -> int:
    if not least <= value <= MAX_ROWS:
        raise Invalid(f"must be between {least} and {MAX_ROWS}", field=field)
    return value
