"""Mission progress for one batch of events (default 100,000) against the active missions (default 3,000,000: a
million subscribers x three missions - a count, a sum and a distinct-days leaf), each assignment with a prior state
from an earlier batch, beside the bare baseline measured in the same run: a polars join of the same batch and
missions on subscriber_id.

    .venv/bin/python bench/progress.py [--events 100000] [--subscribers 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt

import numpy as np
import polars as pl

from questline.engine.progress import advance
from questline.events.schema import EVENT_SCHEMA
from questline.events.vocabulary import EVENT_TYPES
from questline.rules.criteria import parse_criteria
from timing import best_of

START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
TZ = "Europe/London"
CRITERIA = {
    ("texts", 1): parse_criteria({"events": {"types": ["sms"]}, "measure": "count", "target": 20}),
    ("data", 1): parse_criteria({"events": {"types": ["data_session"]}, "measure": "sum", "target": "{bytes}"}),
    ("calls", 1): parse_criteria({"events": {"types": ["voice_call"]}, "measure": "distinct_days", "target": 5}),
}
TYPES = ("sms", "data_session", "voice_call", "app_login")


def assignments(subscribers: int) -> pl.DataFrame:
    ids = pl.Series("subscriber_id", np.arange(subscribers), dtype=pl.UInt32).cast(pl.String)
    frames = [
        pl.DataFrame({"subscriber_id": ids}).with_columns(
            pl.lit(key).alias("template_key"),
            pl.lit(version, pl.Int64).alias("template_version"),
            pl.lit(START).alias("starts_at"),
            pl.lit(START + dt.timedelta(days=14)).alias("ends_at"),
            pl.lit(5e8 if key == "data" else None, pl.Float64).alias("p_bytes"),
        )
        for key, version in CRITERIA
    ]
    frame = pl.concat(frames).with_row_index("assignment_id")
    return frame.with_columns(
        pl.col("assignment_id").cast(pl.UInt64), pl.col("starts_at", "ends_at").dt.cast_time_unit("us")
    )


def batch(n: int, subscribers: int, day: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    types = pl.Series(TYPES).gather(rng.integers(0, len(TYPES), n))
    times = START + dt.timedelta(days=day)
    frame = pl.DataFrame(
        {
            "event_id": pl.Series(rng.integers(0, 2**63, n), dtype=pl.UInt64),
            "subscriber_id": pl.Series(rng.integers(0, subscribers, n), dtype=pl.UInt32).cast(pl.String),
            "event_time": pl.Series([times] * n).dt.cast_time_unit("us")
            + pl.Series(rng.integers(0, 86_400_000_000, n), dtype=pl.Int64).cast(pl.Duration("us")),
            "event_type": types,
            "value": rng.exponential(1e7, n),
        }
    )
    units = types.replace_strict({t: EVENT_TYPES[t].unit.value for t in TYPES})
    kinds = types.replace_strict({t: EVENT_TYPES[t].kind.value for t in TYPES})
    frame = frame.with_columns(unit=units, source_kind=kinds, source=pl.lit("bench"))
    return frame.select(
        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c) for c, t in EVENT_SCHEMA.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    missions = assignments(args.subscribers)
    as_of = START + dt.timedelta(days=3)
    earlier = batch(args.events, args.subscribers, 0, seed=1)
    prior = advance(earlier, missions, CRITERIA, {}, as_of=as_of, timezone=TZ).states
    current = batch(args.events, args.subscribers, 1, seed=2)
    print(
        f"{missions.height:,} active missions, batch of {current.height:,} events, prior states for "
        f"{sum(s.height for s in prior.values()):,} assignments"
    )

    def base() -> int:
        return current.join(missions, on="subscriber_id").height

    def stage() -> int:
        return advance(current, missions, CRITERIA, prior, as_of=as_of, timezone=TZ).results.height

    found = best_of({"base": base, "progress": stage}, args.repeat)
    (joined, joined_rows), (moved, moved_rows) = found["base"], found["progress"]
    print(f"baseline join: {joined * 1000:.0f} ms ({joined_rows:,} rows)")
    print(
        f"progress: {moved * 1000:.0f} ms ({moved_rows:,} assignments moved), "
        f"{moved / joined:.1f}x the baseline (target ≤ 500 ms)"
    )


if __name__ == "__main__":
    main()
