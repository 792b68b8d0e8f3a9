"""Network incidents per subscriber, as the service-assurance system exports them: CSV with a header, UTC times,
one file per ISO week. Dropped calls happen on real calls; outages hit everyone homed on the failed cell."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from questline.events.vocabulary import SourceKind
from questline.simulate import personas as P
from questline.simulate.calendar import DATA_HOURS, Calendar, draw, utc_text
from questline.simulate.feed import Defect, Feed, table
from questline.simulate.population import Population, cell_count, home_cells

SOURCE = "network-incidents"
DIRECTORY = "network"
CODES = {"dropped_call": "DROP", "poor_throughput": "THRPT", "outage_affected": "OUTAGE", "qoe_measurement": "QOE"}
COLUMNS = ("incident_id", "incident_type", "start_time_utc", "msisdn", "imsi", "cell_id", "duration_s", "mos")
DROP_CHANCE = 0.008  # per call, multiplied for declining users (their bad experience is part of why they leave)
QOE_RATE = 0.15  # probe measurements per active subscriber-day


def feed(drops: pl.DataFrame, pop: Population, cal: Calendar, rng: np.random.Generator) -> Feed:
    """`drops`: the period's dropped calls (`dropped_calls` of each day's usage)."""
    parts = [drops, _throughput(pop, cal, rng), _outages(pop, cal, rng), _qoe(pop, cal, rng)]
    frame = pl.concat(parts, how="diagonal").sort("t", "_sub", maintain_order=True)
    sub = frame["_sub"].to_numpy()
    records = frame.with_columns(
        pl.Series("_file", _week_files(cal)[cal.day_of(frame["t"].to_numpy())]),
        (pl.lit("NI") + pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(10)).alias("incident_id"),
        pl.col("_type").replace_strict(CODES).alias("incident_type"),
        utc_text(pl.col("t"), "%Y-%m-%dT%H:%M:%SZ").alias("start_time_utc"),
        pop.international.gather(sub).alias("msisdn"),
        pop.imsi.gather(sub).alias("imsi"),
        pl.col("duration_s").cast(pl.String),
        pl.col("mos").round(2).cast(pl.String),
    )
    return Feed(SOURCE, SourceKind.NETWORK, records, render, DEFECTS, header=",".join(COLUMNS))


def _week_files(cal: Calendar) -> np.ndarray:
    weeks = [cal.date(d).isocalendar() for d in range(cal.days)]
    return np.array([f"{DIRECTORY}/NET_INCIDENTS_{y}W{w:02d}.csv" for y, w, _ in weeks])


def dropped_calls(usage: pl.DataFrame, pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    """Calls of `usage` the network dropped, at the moment they ended."""
    calls = usage.filter(pl.col("code").is_in(["MOC", "MTC"]))
    sub = calls["_sub"].to_numpy()
    chance = DROP_CHANCE * np.where(pop.persona[sub] == P.DECLINING_INDEX, 4.0, 1.0)
    dropped = calls.filter(pl.Series(rng.random(sub.size) < chance))
    return dropped.select(
        "_sub",
        pl.lit("dropped_call").alias("_type"),
        pl.min_horizontal(pl.col("t") + pl.col("duration_s") * 1000, int(cal.midnights[-1]) - 1000).alias("t"),
        pl.col("cell").alias("cell_id"),
    )


def _throughput(pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    sub, day = draw(pop.rate("poor_throughput"), pop.alive, rng)
    return table(
        {
            "_sub": sub,
            "_type": "poor_throughput",
            "t": cal.instants(day, DATA_HOURS, rng),
            "cell_id": _cells(pop, sub, rng),
            "duration_s": rng.integers(30, 1800, sub.size),
        }
    )


def _outages(pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    """A few cell outages; every subscriber homed on the cell and active that day is affected."""
    count = max(1, rng.poisson(0.4 * cal.days))
    cell = rng.integers(0, cell_count(pop.size), count)
    day = rng.integers(0, cal.days, count)
    outages = table(
        {
            "cell": cell,
            "day": day,
            "t": cal.instants(day, DATA_HOURS, rng),
            "duration_s": rng.integers(600, 14_400, count),
        }
    )
    homes = table({"_sub": np.arange(pop.size), "cell": pop.home_cell})
    hit = outages.join(homes, on="cell", how="inner").sort("t", "_sub")
    active = pop.alive[hit["_sub"].to_numpy(), hit["day"].to_numpy()] > 0
    return hit.filter(pl.Series(active)).select(
        "_sub",
        pl.lit("outage_affected").alias("_type"),
        "t",
        home_cells(pop.size).gather(hit.filter(pl.Series(active))["cell"]).alias("cell_id"),
        "duration_s",
    )


def _qoe(pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    sub, day = draw(np.full(pop.size, QOE_RATE), pop.alive > 0, rng)
    mos = np.clip(rng.normal(pop.rate("mos")[sub], 0.45), 1.0, 5.0)
    return table(
        {
            "_sub": sub,
            "_type": "qoe_measurement",
            "t": cal.instants(day, DATA_HOURS, rng),
            "cell_id": _cells(pop, sub, rng),
            "mos": mos,
        }
    )


def _cells(pop: Population, sub: np.ndarray, rng: np.random.Generator) -> pl.Series:
    cell = np.where(rng.random(sub.size) < 0.7, pop.home_cell[sub], rng.integers(0, cell_count(pop.size), sub.size))
    return home_cells(pop.size).gather(cell)


def render(records: pl.DataFrame) -> pl.Series:
    return records.select(pl.concat_str([pl.col(c).fill_null("") for c in COLUMNS], separator=","))[:, 0]


DEFECTS = (
    Defect("unknown incident type", lambda r: render(r.with_columns(incident_type=pl.lit("HO_FAIL")))),
    Defect("unparseable timestamp", lambda r: render(r.with_columns(start_time_utc=pl.lit("N/A")))),
    Defect("missing subscriber", lambda r: render(r.with_columns(msisdn=pl.lit(None)))),  # the probe saw only the IMSI
    Defect("wrong field count", lambda r: render(r).str.replace(r",[^,]*$", "")),
)


def spec() -> dict[str, Any]:
    return {
        "name": SOURCE,
        "kind": "network",
        "description": "Service assurance: dropped calls, poor throughput, outages, QoE (MOS) per subscriber, UTC",
        "format": {"type": "csv", "delimiter": ",", "header": True},
        "location": {"files": f"{DIRECTORY}/NET_INCIDENTS_*.csv"},
        "schedule": "1h",
        "mapping": {
            "subscriber_id": {"field": "msisdn", "msisdn": {"country_code": "44"}},
            "event_time": {"field": "start_time_utc"},
            "event_type": {"field": "incident_type", "lookup": {code: name for name, code in CODES.items()}},
            "value": {
                "default": {"const": 1},
                "by_type": {
                    "poor_throughput": {"field": "duration_s", "unit": "s"},
                    "outage_affected": {"field": "duration_s", "unit": "s"},
                    "qoe_measurement": {"field": "mos", "unit": "score"},
                },
            },
            "attributes": {"cell": "cell_id"},
            "natural_key": ["incident_id"],
        },
    }
