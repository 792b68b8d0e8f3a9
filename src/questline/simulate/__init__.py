"""A synthetic mobile operator: personas drive raw feeds of all five kinds, each in its own system's native format,
plus the source configuration that reads them (`sources.yaml`), the operator's map of location areas to regions
(`regions.csv`) and the ground truth (`truth.json`).

The same arguments give byte-identical files: every random draw comes from generators seeded by `seed` and a fixed
stream number per part, and nothing reads the clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import polars as pl
import yaml

from questline.kit.errors import Invalid
from questline.simulate import app, ber, billing, crm, mediation, network, population, transactions
from questline.simulate.calendar import Calendar
from questline.simulate.feed import Feed, Written, write
from questline.simulate.truth import Truth, build
from questline.simulate.usage import usage
from questline.sources.spec import SourcesDocument

DEFAULT_START = dt.date(2026, 10, 1)
SOURCES_FILE = "sources.yaml"
TRUTH_FILE = "truth.json"
REGIONS_FILE = "regions.csv"
Document = dict[str, list[dict[str, Any]]]
Progress = Callable[[int, int], None]

__all__ = ["DEFAULT_START", "Truth", "simulate", "sources_document"]


def simulate(
    out: Path,
    *,
    subscribers: int,
    days: int,
    seed: int,
    start: dt.date | None = None,
    timezone: str = "Europe/London",
    progress: Progress | None = None,
) -> Truth:
    """Write the feeds, `sources.yaml`, `regions.csv` and `truth.json` under `out`; earlier feed files there are
    replaced.
    `progress(done, total)` is called as work completes (one step per simulated day, then one per other feed)."""
    report = progress or _quiet
    _check(subscribers, days, timezone)
    cal = Calendar.build(start or DEFAULT_START, days, timezone)

    def rng(stream: int) -> np.random.Generator:
        return np.random.default_rng([seed, stream])

    pop = population.build(subscribers, cal, rng(1))
    out.mkdir(parents=True, exist_ok=True)
    document = sources_document(timezone)
    _remove_old_feeds(out, document)
    total = days + 6
    daily, drops, data = _daily_feeds(pop, cal, out, seed, lambda day: report(day, total))
    written = [*daily, ber.write(data, pop, cal, out, rng(2))]
    report(days + 1, total)
    for n, make in enumerate(_feeds(drops, pop, cal, rng)):
        written.append(write(make(), out, rng(100 + n)))
        report(days + 2 + n, total)
    (out / SOURCES_FILE).write_text(yaml.safe_dump(document, sort_keys=False, width=110), encoding="utf-8")
    population.region_map(subscribers).write_csv(out / REGIONS_FILE)
    truth = build(_in_document_order(written, document), pop, cal, seed)
    truth.write(out / TRUTH_FILE)
    return truth


def sources_document(timezone: str) -> Document:
    """The source configuration for the simulated feeds, as a plain document (validated here)."""
    document: Document = {
        "sources": [
            mediation.spec(timezone),
            ber.spec(),
            billing.topup_spec(),
            transactions.spec(timezone),
            app.spec(),
            crm.customer_spec(),
            crm.change_spec(timezone),
            network.spec(),
        ]
    }
    SourcesDocument.model_validate(document)
    return document


def _daily_feeds(
    pop: population.Population, cal: Calendar, out: Path, seed: int, done: Callable[[int], None]
) -> tuple[list[Written], pl.DataFrame, pl.DataFrame]:
    """The big feeds (mediation CDRs, app events), a day at a time so that memory stays flat at any scale; also
    the day's dropped calls and the BER node's data usage, which other feeds take from the same calls."""
    mediated: list[Written] = []
    app_events: list[Written] = []
    drops: list[pl.DataFrame] = []
    data: list[pl.DataFrame] = []
    once = app.one_offs(pop, cal, np.random.default_rng([seed, 3]))
    next_record = 1
    for day in range(cal.days):
        rng = np.random.default_rng([seed, 10, day])
        days = range(day, day + 1)
        use = usage(pop, cal, days, rng)
        mediated.append(write(mediation.feed(use, pop, cal, next_record), out, rng))
        next_record += use.height
        drops.append(network.dropped_calls(use, pop, cal, rng))
        data.append(ber.daily_usage(use, pop))
        del use
        app_events.append(write(app.feed(pop, cal, days, once, rng), out, rng))
        done(day + 1)
    merged = [Written.merge(mediated), Written.merge(app_events)]
    return merged, pl.concat(drops), pl.concat(data)


def _feeds(
    drops: pl.DataFrame, pop: population.Population, cal: Calendar, rng: Callable[[int], np.random.Generator]
) -> list[Callable[[], Feed]]:
    """One maker per feed, so that only one feed's records are in memory at a time."""
    return [
        lambda: billing.topups(pop, cal, rng(4)),
        lambda: transactions.feed(pop, cal, rng(5)),
        lambda: crm.customers(pop, cal),
        lambda: crm.changes(pop, cal, rng(6)),
        lambda: network.feed(drops, pop, cal, rng(7)),
    ]


def _quiet(done: int, total: int) -> None:
    return None


def _check(subscribers: int, days: int, timezone: str) -> None:
    if subscribers < 1:
        raise Invalid("must be at least 1", field="subscribers")
    if days < 1:
        raise Invalid("must be at least 1", field="days")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone {timezone!r}", field="timezone") from None


def _remove_old_feeds(out: Path, document: Document) -> None:
    """Files a previous run left that this run's globs would pick up (and only those)."""
    for source in document["sources"]:
        for path in out.glob(source["location"]["files"]):
            if path.is_file():
                path.unlink()


def _in_document_order(written: list[Written], document: Document) -> list[Written]:
    order = [source["name"] for source in document["sources"]]
    return sorted(written, key=lambda w: order.index(w.source))
