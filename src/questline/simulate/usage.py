"""Usage: every call, SMS and data session, drawn per subscriber-day from the personas' rates, a few days at a time.

One frame for those days, shared by the mediation CDR feed, the PGW BER feed and the network feed (dropped calls
happen on real calls)."""

from __future__ import annotations

import numpy as np
import polars as pl

from questline.simulate.calendar import DATA_HOURS, VOICE_HOURS, Calendar, draw
from questline.simulate.feed import table
from questline.simulate.population import DESTINATIONS, Population, cell_count, home_cells

# code -> (event type, persona rate, local-hour profile, weekend factor, factor while abroad)
SERVICES = {
    "MOC": ("voice_call", "calls_out", VOICE_HOURS, 0.8, 0.5),
    "MTC": ("voice_call", "calls_in", VOICE_HOURS, 0.9, 0.7),
    "SMSMO": ("sms", "sms_out", VOICE_HOURS, 1.0, 0.8),
    "SMSMT": ("sms", "sms_in", VOICE_HOURS, 1.0, 1.0),
    "GPRS": ("data_session", "data_sessions", DATA_HOURS, 1.1, 0.7),
}
HOME_CELL_SHARE = 0.65
TARIFF_CLASSES = ("ONNET", "OFFNET", "FIXED", "INTL")


def usage(pop: Population, cal: Calendar, days: range, rng: np.random.Generator) -> pl.DataFrame:
    """The usage of some days. Columns: _sub, _type, code, t (UTC ms), day, duration_s, volume_kb, abroad, cell,
    other, tariff_class."""
    frames = [_service(code, pop, cal, days, rng) for code in SERVICES]
    frame = pl.concat(frames).sort("t", "_sub", maintain_order=True)
    return frame.with_columns(_cells(frame, pop, rng), *_counterparts(frame, rng))


def _service(code: str, pop: Population, cal: Calendar, days: range, rng: np.random.Generator) -> pl.DataFrame:
    event_type, rate, hours, weekend, away = SERVICES[code]
    span = slice(days.start, days.stop)
    scale = pop.alive[:, span] * np.where(cal.weekend[span], weekend, 1.0)[None, :]
    scale *= np.where(pop.abroad[:, span], away, 1.0)
    sub, day = draw(pop.rate(rate) * pop.volume, scale, rng)
    day += days.start
    duration, volume = _amounts(code, pop, sub, rng)
    return table(
        {
            "_sub": sub,
            "_type": event_type,
            "code": code,
            "t": cal.instants(day, hours, rng),
            "day": day,
            "duration_s": duration,
            "volume_kb": volume,
            "abroad": pop.abroad[sub, day],
        },
        dtypes={"duration_s": pl.Int64(), "volume_kb": pl.Int64()},
    )


def _amounts(
    code: str, pop: Population, sub: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Call seconds for voice; session seconds and kB for data; nothing for SMS."""
    if code in ("MOC", "MTC"):
        return np.maximum(1, _lognormal(pop.rate("call_seconds")[sub], 1.0, rng)).astype(np.int64), None
    if code == "GPRS":
        seconds = np.maximum(5, rng.exponential(1500.0, sub.size)).astype(np.int64)
        kilobytes = np.maximum(1, _lognormal(pop.rate("session_mb")[sub] * 1000.0, 1.1, rng)).astype(np.int64)
        return seconds, kilobytes
    return None, None


def _lognormal(mean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return rng.lognormal(np.log(mean) - sigma**2 / 2, sigma)


def _cells(frame: pl.DataFrame, pop: Population, rng: np.random.Generator) -> pl.Series:
    """Cell global ids: mostly the home cell; abroad, a cell of the visited network."""
    sub, n = frame["_sub"].to_numpy(), frame.height
    cell = np.where(rng.random(n) < HOME_CELL_SHARE, pop.home_cell[sub], rng.integers(0, cell_count(pop.size), n))
    plmn = pl.Series([p for _, p in DESTINATIONS]).gather(pop.trip_destination[sub])
    visited = pl.format("{}-{}-1", plmn, pl.Series(rng.integers(100, 9999, n)))
    here = home_cells(pop.size).gather(cell)
    return frame.select(pl.when("abroad").then(visited).otherwise(here).alias("cell")).to_series()


def _counterparts(frame: pl.DataFrame, rng: np.random.Generator) -> tuple[pl.Series, pl.Series]:
    """The other party in national notation (mobile, London landline, or abroad as 00 + country code) and the
    tariff class the mediation system derives from it; data sessions have neither party nor class."""
    n = frame.height
    kind = pl.Series(rng.choice(4, n, p=[0.35, 0.45, 0.13, 0.07]))  # on-net, off-net mobile, landline, abroad
    number = pl.Series(rng.integers(0, 1_000_000_000, n)).cast(pl.String)
    data = pl.col("code") == "GPRS"
    other = (
        pl.when(data)
        .then(None)
        .when(kind <= 1)
        .then("07" + number.str.zfill(9))
        .when(kind == 2)
        .then("020" + number.str.slice(0, 8).str.zfill(8))
        .otherwise("0033" + number.str.zfill(9))
    )
    tariff = pl.when(data).then(pl.lit("DATA")).otherwise(pl.Series(TARIFF_CLASSES).gather(kind))
    picked = frame.select(other.alias("other"), tariff.alias("tariff_class"))
    return picked["other"], picked["tariff_class"]
