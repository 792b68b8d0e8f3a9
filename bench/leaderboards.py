"""Leaderboards over a synthetic daily table (default 1,000,000 subscribers x 30 days, one row per subscriber-day)
beside the bare baseline measured in the same run: one polars group-by summing a metric per subscriber over the
whole frame, then a sort by the sum.

Times `standings` for a weekly board (everyone), a monthly board (everyone: the same work as the baseline plus
ranking) and a monthly board ranked within segments; then stores the per-segment standings in a lake and times
the reads the app makes: `top` and `around` (first read of a partition, which loads it, then warm reads).

    .venv/bin/python bench/leaderboards.py [--subscribers 1000000] [--days 30] [--repeat 3] [--reads 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from questline.config import load_settings
from questline.engine.leaderboard_store import store
from questline.engine.leaderboards import MetricBoard, around, load_leaderboards, standings, top
from questline.runtime import Runtime
from timing import best_of

AS_OF = dt.date(2026, 5, 31)  # a Sunday: the week is whole, and the month holds every day of the frame
SEGMENTS = ("new", "dormant", "at_risk", "champions", "loyal", "potential", "regular")
BOARDS = {
    "weekly data, everyone": MetricBoard(
        key="data_week", name="w", source="metric", metric="data_bytes", divide_by=1e9, period="weekly"
    ),
    "monthly data, everyone": MetricBoard(
        key="data_month", name="m", source="metric", metric="data_bytes", divide_by=1e9, period="monthly"
    ),
    "monthly app events, per segment": MetricBoard(
        key="app_month_segment", name="s", source="metric", metric="app_events", period="monthly", scope="segment"
    ),
}


def synthetic(subscribers: int, days: int, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The daily table's columns the boards read (a day without activity is a row of zeros) and a snapshot's
    segment per subscriber."""
    rng = np.random.default_rng(seed)
    ids = pl.Series("subscriber_id", np.arange(subscribers), dtype=pl.UInt32).cast(pl.String)
    rows = subscribers * days
    first = (AS_OF - dt.timedelta(days=days - 1) - dt.date(1970, 1, 1)).days
    active = rng.random(rows) < 0.6
    daily = pl.DataFrame(
        {
            "subscriber_id": ids.gather(np.tile(np.arange(subscribers), days)),
            "date": pl.Series(np.repeat(np.arange(days) + first, subscribers), dtype=pl.Int32).cast(pl.Date),
            # whole bytes and counts, so many totals tie, as in real data
            "data_bytes": np.where(active, rng.exponential(3e8, rows).round(-6), 0.0),
            "app_events": pl.Series(np.where(active, rng.poisson(1.5, rows), 0), dtype=pl.UInt32),
            "active": active,
        }
    )
    scores = pl.DataFrame(
        {"subscriber_id": ids, "segment": pl.Series(SEGMENTS).gather(rng.integers(0, 7, subscribers))}
    )
    return daily, scores


def baseline(daily: pl.DataFrame) -> pl.DataFrame:
    return (
        daily.lazy()
        .group_by("subscriber_id")
        .agg(pl.col("data_bytes").sum().alias("value"))
        .sort("value", descending=True)
        .collect()
    )


def latencies(call: Callable[[str], object], ids: list[str]) -> tuple[float, float]:
    """p50 and p99 of one read per id, in milliseconds."""
    spent = []
    for subscriber in ids:
        start = time.perf_counter()
        call(subscriber)
        spent.append(time.perf_counter() - start)
    p50, p99 = np.percentile(np.array(spent) * 1000, [50, 99])
    return float(p50), float(p99)


def reads(standing: pl.DataFrame, board: MetricBoard, count: int) -> None:
    with tempfile.TemporaryDirectory() as home:
        rt = Runtime.open(load_settings(home=Path(home), timezone="Europe/London"))
        config = load_leaderboards({"version": 1, "boards": [board.model_dump()]})
        start = time.perf_counter()
        store(rt, board, AS_OF, standing)
        stored = time.perf_counter() - start
        start = time.perf_counter()
        top(rt, board.key, 10, "regular", config=config)
        first = time.perf_counter() - start
        ids = standing.get_column("subscriber_id").sample(count, seed=3).to_list()
        top50, top99 = latencies(lambda _: top(rt, board.key, 10, "regular", config=config), ids)
        near50, near99 = latencies(lambda s: around(rt, board.key, s, 5, config=config), ids)
        rt.db.engine.dispose()
    print(f"store standings ({standing.height:,} entries): {stored:.2f} s")
    print(f"first read (loads the partition): {first * 1000:.0f} ms")
    print(f"top 10 of a segment:        p50 {top50:.2f} ms, p99 {top99:.2f} ms ({count} reads)")
    print(f"around (k=5) a subscriber:  p50 {near50:.2f} ms, p99 {near99:.2f} ms ({count} reads)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    daily, scores = synthetic(args.subscribers, args.days)
    print(f"daily table: {daily.height:,} rows ({args.subscribers:,} subscribers × {args.days} days)")
    runs: dict[str, Callable[[], int]] = {"baseline": lambda: baseline(daily).height}
    for name, board in BOARDS.items():
        runs[name] = lambda board=board: standings(daily.lazy(), scores, board, AS_OF).height  # type: ignore[misc]
    found = best_of(runs, args.repeat)
    base = found.pop("baseline")[0]
    print(f"baseline group-by sum + sort of the whole frame: {base:.2f} s")
    for name, (spent, rows) in found.items():
        print(f"standings, {name}: {spent:.2f} s ({rows:,} entries), {spent / base:.2f}× the baseline")
    segment_board = BOARDS["monthly app events, per segment"]
    reads(standings(daily.lazy(), scores, segment_board, AS_OF), segment_board, args.reads)
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB")


if __name__ == "__main__":
    main()
