"""The four shipped streak definitions recomputed over a synthetic daily table (default 1,000,000 subscribers x 90
days, each day present with the subscriber's own probability, ~60% on average) beside the bare baseline measured in
the same run: one polars group-by summing, per subscriber, the six columns the definitions read (`active`,
`data_bytes`, `app_logins`, `recharge_count`, `bundle_count`, `outage_s`).

The table is written to a lake like production's (lake table `daily`, one Parquet file per date, sorted by
subscriber) and every run scans it as `update_streaks` does, in a fresh process that reports its own time and peak
RSS; runs are interleaved. Timed: `compute` (every definition's current and longest streak) and `evaluate` with the
recent runs a next day's `update_streaks` asks for (each definition's since its oldest live streak's last period).
Then the storing side at a smaller scale (default 100,000 subscribers): `update_streaks` into a new SQLite
database, a first run (every streak new) and the next day's run, beside `evaluate` alone, the computing inside it.

    .venv/bin/python bench/streaks.py [--subscribers 1000000] [--days 90] [--active 0.6] [--repeat 3]
                                      [--store-subscribers 100000] [--lake DIR]
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
from questline.engine.streaks import compute, evaluate, load_streaks, update_streaks
from questline.kit.lake import Lake
from questline.runtime import Runtime
from questline.scoring.daily import PARTITION, TABLE, empty_daily, scan_daily
from timing import best_in_fresh_processes

AS_OF = dt.date(2026, 11, 30)
ONE_DAY = dt.timedelta(days=1)
# as far back as a next day's `update_streaks` asks for each definition's runs here: the oldest last period of a
# live streak - a day or two for the daily ones (freezes), four weeks for the weekly one
RUNS_SINCE = {d.key: AS_OF - dt.timedelta(days=28 if d.period == "week" else 2) for d in load_streaks().streaks}
COLUMNS = ("active", "data_bytes", "app_logins", "recharge_count", "bundle_count", "outage_s")
PER_CELL = 40  # subscribers homed on one cell, as the simulator has them
OUTAGE = 0.005  # a cell's chance of an outage on a day: ~1.8 outage days a year for each subscriber


# ---- the synthetic lake --------------------------------------------------------------------------------------------


def write_daily(lake: Lake, subscribers: int, days: int, active: float, seed: int = 7) -> int:
    """Rows on the days a subscriber has events (each subscriber has its own activity rate around `active`) or sits
    in an outage's area (a row with only `outage_s`, `active` false), one partition per date, sorted by subscriber.
    The columns the streaks read follow each subscriber's habits; the table's other columns are null. Returns the
    number of rows."""
    rng = np.random.default_rng(seed)
    n = subscribers
    habits = {
        "rate": np.clip(rng.beta(3, 2, n) * active / 0.6, 0, 1),
        # 85% use data, a typical day's volume lognormal around 200 MB
        "data": np.where(rng.random(n) < 0.85, rng.lognormal(np.log(2e8), 1.0, n), 0.0),
        "logins": np.where(rng.random(n) < 0.4, rng.gamma(2.0, 0.5, n), 0.0),  # 40% use the app, ~1 login a day
        "recharges": np.where(rng.random(n) < 0.7, rng.gamma(2.0, 0.1, n), 0.0),  # prepaid: a top-up every ~5 days
    }
    ids = pl.Series("subscriber_id", np.arange(n), dtype=pl.UInt32).cast(pl.String)
    home = np.arange(n) // PER_CELL
    rows = 0
    for age in reversed(range(days)):
        present = rng.random(n) < habits["rate"]
        cells = rng.integers(600, 14_400, home[-1] + 1) * (rng.random(home[-1] + 1) < OUTAGE)
        outage = cells[home]
        at = np.flatnonzero(present | (outage > 0))
        frame = _day(rng, habits, ids.gather(at), at, present[at], outage[at]).sort("subscriber_id")
        lake.replace_partition(TABLE, PARTITION, (AS_OF - dt.timedelta(days=age)).isoformat(), frame)
        rows += frame.height
    return rows


def _day(
    rng: np.random.Generator,
    habits: dict[str, np.ndarray],
    ids: pl.Series,
    at: np.ndarray,
    present: np.ndarray,
    outage: np.ndarray,
) -> pl.DataFrame:
    with_data = rng.random(at.size) < 0.9
    columns = {
        "subscriber_id": ids,
        "active": present,
        "data_bytes": np.round(rng.exponential(habits["data"][at]) * (present & with_data)),
        "app_logins": rng.poisson(habits["logins"][at]) * present,
        "recharge_count": rng.poisson(habits["recharges"][at]) * present,
        "bundle_count": rng.poisson(0.1, at.size) * present,
        "outage_s": outage.astype(np.float64),
    }
    schema = empty_daily().collect_schema()
    frame = pl.DataFrame(columns).with_columns(pl.col(name).cast(schema[name]) for name in columns)
    rest = [pl.lit(None, schema[name]).alias(name) for name in schema if name not in columns and name != PARTITION]
    return frame.with_columns(rest).select(name for name in schema if name != PARTITION)


# ---- the runs, each in a fresh process -----------------------------------------------------------------------------


def baseline(daily: pl.LazyFrame) -> int:
    """The six columns summed per subscriber, with polars' streaming engine (as bench/scoring.py's baseline)."""
    return daily.group_by("subscriber_id").agg(pl.col(COLUMNS).sum()).collect(engine="streaming").height


def with_runs(daily: pl.LazyFrame) -> int:
    return evaluate(daily, load_streaks(), AS_OF, runs_since=RUNS_SINCE).runs.height


RUNS: dict[str, Callable[[pl.LazyFrame], int]] = {
    "base": baseline,
    "compute": lambda daily: compute(daily, load_streaks(), AS_OF).height,
    "evaluate": with_runs,
}


def measure(name: str, root: Path) -> tuple[float, int, float]:
    """Seconds, rows and this process's peak RSS in GB (run in a fresh process: the peak is this run's alone)."""
    daily = scan_daily(Lake(root))
    start = time.perf_counter()
    rows = RUNS[name](daily)
    seconds = time.perf_counter() - start
    return seconds, rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


# ---- storing -------------------------------------------------------------------------------------------------------


def storing(root: Path, repeat: int) -> dict[str, tuple[float, str]]:
    """`update_streaks` into a new SQLite database (a first run, then the next day's) and `evaluate` alone as the
    next day's run calls it; best of `repeat`, each repetition on a new database over the same lake."""
    found: dict[str, tuple[float, str]] = {}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as home:
            rt = Runtime.open(load_settings(home=Path(home), lake=root, timezone="Europe/London"))
            for name, (seconds, said) in _stored_once(rt).items():
                found[name] = min(found.get(name, (seconds, said)), (seconds, said))
            rt.db.engine.dispose()
    return found


def _stored_once(rt: Runtime) -> dict[str, tuple[float, str]]:
    runs: dict[str, Callable[[], str]] = {
        "first run": lambda: _changes(update_streaks(rt, AS_OF - ONE_DAY)),
        "next day": lambda: _changes(update_streaks(rt, AS_OF)),
        "evaluate alone": lambda: f"{with_runs(scan_daily(rt.lake)):,} runs",
    }
    timed = {}
    for name, run in runs.items():
        start = time.perf_counter()
        said = run()
        timed[name] = (time.perf_counter() - start, said)
    return timed


def _changes(result: dict[str, object]) -> str:
    return f"{result['changed']:,} rows changed, {result['removed']:,} removed, {result['events']:,} events"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--active", type=float, default=0.6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store-subscribers", type=int, default=100_000)
    parser.add_argument("--lake", type=Path, help="keep the lakes here and reuse them when they exist (else temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="questline-bench-") as temporary:
        base = args.lake or Path(temporary)
        full, small = (base / f"{n}x{args.days}" for n in (args.subscribers, args.store_subscribers))
        for root, n in ((full, args.subscribers), (small, args.store_subscribers)):
            if not (root / TABLE).exists():
                start = time.perf_counter()
                rows = write_daily(Lake(root), n, args.days, args.active)
                print(f"daily table, {n:,} subscribers: {rows:,} rows written in {time.perf_counter() - start:.1f} s")
        size = sum(f.stat().st_size for f in (full / TABLE).rglob("*.parquet")) / 1e9
        print(f"daily table: {size:.2f} GB of Parquet, {len(list((full / TABLE).iterdir()))} date partitions")
        found = best_in_fresh_processes(measure, RUNS, full, args.repeat)
        report(found)
        print(f"storing, {args.store_subscribers:,} subscribers × {args.days} days, SQLite, best of {args.repeat}:")
        for name, (seconds, said) in storing(small, args.repeat).items():
            print(f"  {name}: {seconds:.2f} s ({said})")


def report(found: dict[str, tuple[float, int, float]]) -> None:
    base, rows, peak = found["base"]
    print(f"baseline group-by sum of the six columns: {base:.2f} s ({rows:,} subscribers), peak RSS {peak:.2f} GB")
    spent, rows, peak = found["compute"]
    print(
        f"compute, four definitions: {spent:.2f} s ({rows:,} streaks), {spent / base:.2f}× the baseline, "
        f"peak RSS {peak:.2f} GB"
    )
    spent, rows, peak = found["evaluate"]
    print(
        f"evaluate with each definition's recent runs: {spent:.2f} s ({rows:,} runs), {spent / base:.2f}× the "
        f"baseline, peak RSS {peak:.2f} GB"
    )


if __name__ == "__main__":
    main()
