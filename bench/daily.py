"""The daily table's build over one day of a simulated operator's events (default 100,000 subscribers, ~0.8 M events
a day), beside the bare baseline measured in the same run: one polars group-by counting events per subscriber-day.

Times `daily_metrics` (every column), and alone the part of it that finds each subscriber-day's `home_cell` (the
most used cell), so the cost of regions is visible. The operator is simulated and synced into a temporary lake
first (~20 s at the default size); the day's events are read into memory once, so only the build is timed.

    .venv/bin/python bench/daily.py [--subscribers 100000] [--days 3] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

import polars as pl

from questline.config import load_settings
from questline.runtime import Runtime
from questline.scoring.daily import KEYS, SPARSE, daily_metrics
from questline.simulate import DEFAULT_START, simulate
from questline.sources import service
from questline.sources.sync import sync
from timing import best_of


def operator_day(root: Path, subscribers: int, days: int) -> pl.LazyFrame:
    """The events of the simulated period's last day, in memory, as `EventStore.scan` gives them."""
    simulate(root / "feeds", subscribers=subscribers, days=days, seed=11)
    rt = Runtime.open(load_settings(home=root / "home", timezone="Europe/London"))
    with rt.db.session() as session:
        for spec in service.load_document(root / "feeds" / "sources.yaml"):
            service.save(session, spec)
    sync(rt)
    day = DEFAULT_START + dt.timedelta(days=days - 1)
    events = rt.events.scan(day, day).collect()
    rt.db.engine.dispose()
    return events.lazy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        events = operator_day(Path(tmp), args.subscribers, args.days)
        count = events.select(pl.len()).collect().item()
        keyed = events.rename({"event_date": "date"})
        home = next(s for s in SPARSE if s.name == "home_cell")
        runs = {
            "baseline: events per subscriber-day": lambda: keyed.group_by(*KEYS).agg(pl.len()).collect().height,
            "daily_metrics (every column)": lambda: daily_metrics(events).collect().height,
            "of which home_cell alone": lambda: home.per_day(keyed.filter(home.rows)).collect().height,
        }
        timed = best_of(runs, args.repeat)
    print(f"{count:,} events of one day, {args.subscribers:,} subscribers; best of {args.repeat}, interleaved")
    base = timed["baseline: events per subscriber-day"][0]
    for name, (seconds, rows) in timed.items():
        print(f"  {name:38s} {seconds:6.3f} s  {seconds / base:5.2f}x  {rows:,} rows  {count / seconds / 1e6:5.2f} M/s")


if __name__ == "__main__":
    main()
