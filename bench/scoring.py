"""Feature scoring of a synthetic daily table (default 1,000,000 subscribers x 90 days, ~60% of days active) beside
the bare baseline measured in the same run: one polars group-by summing every metric column per subscriber.

The table is written to a lake like production's (lake table `daily`, one Parquet file per date) and every run scans
it lazily, so nothing holds it whole. Each run is a fresh process, which reports its own time and peak RSS.

    .venv/bin/python bench/scoring.py [--subscribers 1000000] [--days 90] [--active 0.6] [--repeat 3] [--lake DIR]
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

from questline.kit.lake import Lake
from questline.scoring.config import load_scores, load_segments
from questline.scoring.daily import DAILY_METRICS, EVENT_TYPE_BITS, PARTITION, TABLE, empty_daily
from questline.scoring.features import INPUTS, features
from questline.scoring.scores import score
from questline.scoring.segments import assign
from questline.scoring.service import PROFILE
from timing import best_in_fresh_processes

AS_OF = dt.date(2026, 11, 30)
PLANS = ("prepaid_s", "prepaid_m", "postpaid_l")
CELLS = 25_000
FEATURE_NAMES = ("balance", "bundles", "pay_bill", "support", "rewards")
# Daily mean on an active day. Counts are Poisson; seconds and bytes exponential, in whole units.
COUNTS = {
    "voice_calls": 4, "sms": 3, "recharge_count": 0.15, "recharge_digital_count": 0.06, "bundle_count": 0.1,
    "payment_count": 0.03, "payments_on_time": 0.025, "app_logins": 0.5, "app_events": 1.5, "features_used": 0.6,
    "content_views": 0.3, "shares": 0.05, "referrals": 0.01, "complaints": 0.005, "dropped_calls": 0.1,
    "port_out_requests": 0.0005, "deactivations": 0.0002, "activations": 0.0005,
}  # fmt: skip
QUANTITIES = {"voice_s": 600.0, "data_bytes": 3e8, "outage_s": 30.0}
# Money, in cents, only on the days with a purchase: amount = count x price; revenue is their total.
PRICES = {"recharge_amount": "recharge_count", "bundle_amount": "bundle_count", "payment_amount": "payment_count"}
MONEY_MEANS = {"recharge_amount": 2.0, "bundle_amount": 1.0, "payment_amount": 1.0}


# ---- the synthetic lake --------------------------------------------------------------------------------------------


def write_daily(lake: Lake, subscribers: int, days: int, active: float, seed: int = 7) -> int:
    """Rows only on the days a subscriber has events (each subscriber has its own activity rate around `active`),
    one partition per date, sorted by subscriber like `daily_metrics` writes them. Returns the number of rows."""
    rng = np.random.default_rng(seed)
    rate = np.clip(rng.beta(3, 2, subscribers) * active / 0.6, 0, 1).astype(np.float32)
    ids = pl.Series("subscriber_id", np.arange(subscribers), dtype=pl.UInt32).cast(pl.String)
    rows = 0
    for age in reversed(range(days)):
        present = np.flatnonzero(rng.random(subscribers, dtype=np.float32) < rate)
        frame = _day(rng, ids.gather(present), present).sort("subscriber_id")
        lake.replace_partition(TABLE, PARTITION, (AS_OF - dt.timedelta(days=age)).isoformat(), frame)
        rows += frame.height
    return rows


def _day(rng: np.random.Generator, ids: pl.Series, present: np.ndarray) -> pl.DataFrame:
    n = ids.len()
    columns: dict[str, pl.Series] = {"subscriber_id": ids}
    for name, mean in COUNTS.items():
        columns[name] = pl.Series(name, rng.poisson(mean, n), dtype=pl.UInt32)
    for name, mean in QUANTITIES.items():
        columns[name] = pl.Series(name, np.round(rng.exponential(mean, n)))
    for name, count in PRICES.items():
        price = rng.exponential(MONEY_MEANS[name] / COUNTS[count], n)
        columns[name] = pl.Series(name, np.round(columns[count].to_numpy() * price, 2))
    columns["revenue"] = pl.Series("revenue", np.round(sum(columns[name].to_numpy() for name in PRICES), 2))
    schema = empty_daily().collect_schema()
    frame = pl.DataFrame(columns).with_columns(pl.col(name).cast(schema[name]) for name in columns)
    return frame.with_columns(
        (pl.col("voice_calls") + pl.col("sms") + pl.col("app_events") > 0).alias("active"),
        _sparse_plan(rng, n),
        _features(rng, n),
        _home_cells(rng, present),
        pl.Series(rng.integers(0, 1 << len(EVENT_TYPE_BITS), n), dtype=pl.UInt32).alias("event_types"),
    ).select(c for c in INPUTS if c != PARTITION)


def _sparse_plan(rng: np.random.Generator, n: int) -> pl.Series:
    chosen = pl.Series(PLANS).gather(rng.integers(0, len(PLANS), n))
    return pl.select(pl.when(pl.Series(rng.random(n) < 0.01)).then(chosen)).to_series().alias("plan")


def _features(rng: np.random.Generator, n: int) -> pl.Series:
    used = rng.random(n) < 0.2
    one = pl.Series(FEATURE_NAMES).gather(rng.integers(0, len(FEATURE_NAMES), n))
    lists = pl.when(pl.Series(used)).then(pl.concat_list(one)).otherwise(pl.lit([], pl.List(pl.String)))
    return pl.select(lists).to_series().alias("features")


def _home_cells(rng: np.random.Generator, present: np.ndarray) -> pl.Series:
    """Each subscriber's own cell of 25,000 on most days, another on some, none (no usage with a cell) on a few."""
    cell = np.where(rng.random(present.size) < 0.85, present % CELLS, rng.integers(0, CELLS, present.size))
    ids = pl.Series(cell).cast(pl.String)
    named = pl.format("234-15-{}-{}", pl.lit(pl.Series(1000 + cell // 10)), pl.lit(ids))
    return pl.select(pl.when(pl.Series(rng.random(present.size) < 0.95)).then(named)).to_series().alias("home_cell")


def scan(root: Path) -> pl.LazyFrame:
    """The lake table as `scan_daily` reads it (the synthetic table has only the columns the features read)."""
    frame = Lake(root).scan(TABLE)
    assert frame is not None, f"no daily table under {root}"
    return frame.with_columns(pl.col(PARTITION).cast(pl.Date)).select(INPUTS)


# ---- the runs ------------------------------------------------------------------------------------------------------


def baseline(daily: pl.LazyFrame) -> pl.DataFrame:
    """Every metric column summed per subscriber, with polars' streaming engine (its fastest here: the in-memory
    engine reads the whole table first and takes ~4x as long)."""
    schema = daily.collect_schema()
    metrics = [c for c in schema if c in DAILY_METRICS and schema[c].is_numeric()]
    return daily.group_by("subscriber_id").agg(pl.col(metrics).sum()).collect(engine="streaming")


def scoring(daily: pl.LazyFrame) -> pl.DataFrame:
    """The pure scoring stages of a run: features, the five scores with explanations, segments."""
    table = features(daily, AS_OF)
    scored = score(table, load_scores(), keep=PROFILE)
    return assign(scored, load_segments())


RUNS: dict[str, Callable[[pl.LazyFrame], pl.DataFrame]] = {
    "base": baseline,
    "features": lambda daily: features(daily, AS_OF),
    "scoring": scoring,
}


def measure(name: str, root: Path) -> tuple[float, int, float]:
    """Seconds, rows and this process's peak RSS in GB (run in a fresh process: the peak is this run's alone)."""
    daily = scan(root)
    start = time.perf_counter()
    rows = RUNS[name](daily).height
    seconds = time.perf_counter() - start
    return seconds, rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--active", type=float, default=0.6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lake", type=Path, help="keep the lake here and reuse it when it exists (else a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="questline-bench-") as temporary:
        root = args.lake or Path(temporary)
        if not (root / TABLE).exists():
            start = time.perf_counter()
            rows = write_daily(Lake(root), args.subscribers, args.days, args.active)
            print(f"daily table: {rows:,} rows written in {time.perf_counter() - start:.1f} s")
        size = sum(f.stat().st_size for f in (root / TABLE).rglob("*.parquet")) / 1e9
        print(f"daily table: {size:.2f} GB of Parquet, {len(list((root / TABLE).iterdir()))} date partitions")
        report(best_in_fresh_processes(measure, RUNS, root, args.repeat))


def report(found: dict[str, tuple[float, int, float]]) -> None:
    (base, base_rows, base_peak), (feat, feat_rows, feat_peak) = found["base"], found["features"]
    whole, whole_rows, peak = found["scoring"]
    print(f"baseline group-by sum: {base:.2f} s ({base_rows:,} subscribers), peak RSS {base_peak:.2f} GB")
    print(
        f"features(daily, as_of): {feat:.2f} s ({feat_rows:,} subscribers), {feat / base:.2f}× the baseline, "
        f"peak RSS {feat_peak:.2f} GB"
    )
    print(
        f"features + five scores + segments: {whole:.2f} s ({whole_rows:,} subscribers), {whole / base:.2f}× "
        f"the baseline (target ≤ 3×, ≤ 10 s), peak RSS {peak:.2f} GB (target ≤ 4 GB)"
    )


if __name__ == "__main__":
    main()
