"""Stored standings: lake table `leaderboards`, one partition per board and period start, each replaced whole.

A partition is one sorted Parquet file read whole and kept in memory while it is unchanged, so the app's reads
(a top listing, a subscriber's neighbours) are binary searches and slices of a ready frame, not scans."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import polars as pl

from questline.engine.leaderboard_config import Board
from questline.kit.errors import NotFound
from questline.runtime import Runtime

TABLE = "leaderboards"
PARTITION = "board"
ALL_TIME = "all"
CACHED_PARTITIONS = 8  # ~50 MB each at 1,000,000 entries


def partition_value(board: Board, as_of: dt.date) -> str:
    """`<key>@<period start>`, or `<key>@all` for all_time: keys have no `@`, so the value splits back."""
    start, _ = board.bounds(as_of)
    return f"{board.key}@{start.isoformat() if start else ALL_TIME}"


def period_start(value: str) -> dt.date | None:
    start = value.split("@", 1)[1]
    return None if start == ALL_TIME else dt.date.fromisoformat(start)


def store(rt: Runtime, board: Board, as_of: dt.date, standings: pl.DataFrame) -> None:
    """Replace the board's partition for the period holding `as_of`; `as_of` is kept so a reader knows how far the
    standings go."""
    frame = standings.with_columns(pl.lit(as_of, pl.Date).alias("as_of"))
    rt.lake.replace_partition(TABLE, PARTITION, partition_value(board, as_of), frame)


def stored(rt: Runtime, board: Board) -> list[str]:
    """The board's stored partitions, oldest period first."""
    return [v for v in rt.lake.partitions(TABLE) if v.split("@", 1)[0] == board.key]


def pick(rt: Runtime, board: Board, as_of: dt.date | None) -> str:
    """The partition for the period holding `as_of`, or the latest one."""
    values = stored(rt, board)
    wanted = partition_value(board, as_of) if as_of else (values[-1] if values else None)
    if wanted is None or wanted not in values:
        when = f" for the period of {as_of.isoformat()}" if as_of else ""
        raise NotFound(f"leaderboard {board.key!r} has no standings{when}: refresh the leaderboards", field="key")
    return wanted


def load(rt: Runtime, value: str) -> pl.DataFrame:
    """The stored standings of one partition, from memory while its file is unchanged."""
    path = rt.lake.replaced_file(TABLE, PARTITION, value)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise NotFound(f"no stored standings {value!r}", field="key") from None
    return _read(path, status.st_ino, status.st_mtime_ns)


@functools.lru_cache(maxsize=CACHED_PARTITIONS)
def _read(path: Path, inode: int, modified: int) -> pl.DataFrame:
    # inode and mtime are part of the key: a replaced partition is a new file, so it is read again
    return pl.read_parquet(path)
