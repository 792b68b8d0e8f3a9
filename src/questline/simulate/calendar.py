"""The simulated period in the operator's zone, and vectorised placement of events in time.

Instants are int64 milliseconds since the epoch, UTC. A day is a local calendar day, so on a daylight-saving
change it is 23 or 25 hours long; event times are spread over its real length."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 24 * MS_PER_HOUR


def _profile(*weights: float) -> np.ndarray:
    array = np.array(weights, dtype=np.float64)
    return array / array.sum()


# Share of a day's events per local hour (00..23).
VOICE_HOURS = _profile(1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 3, 6, 8, 9, 9, 9, 9, 9, 9, 9, 9, 8, 7, 6, 4, 3, 2)
DATA_HOURS = _profile(3, 2, 1, 0.5, 0.5, 0.6, 1.5, 4, 6, 6, 6, 6, 7, 7, 6, 6, 7, 8, 9, 10, 11, 11, 9, 6)
APP_HOURS = _profile(1, 0.5, 0.2, 0.1, 0.1, 0.3, 1, 4, 7, 7, 6, 6, 8, 7, 6, 6, 6, 7, 8, 9, 10, 9, 6, 3)
SHOP_HOURS = _profile(0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 7, 8, 9, 9, 9, 9, 9, 8, 7, 5, 0, 0, 0, 0)
OFFICE_HOURS = _profile(0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 2, 6, 9, 9, 9, 8, 9, 9, 9, 8, 6, 4, 3, 2, 1, 0.5, 0.3)


@dataclass(frozen=True)
class Calendar:
    start: dt.date
    days: int
    zone: str
    midnights: np.ndarray  # UTC ms of each local midnight, days + 1 of them
    weekend: np.ndarray  # bool per day

    @classmethod
    def build(cls, start: dt.date, days: int, zone: str) -> Calendar:
        tz = ZoneInfo(zone)
        dates = [start + dt.timedelta(days=d) for d in range(days + 1)]
        midnights = [int(dt.datetime.combine(d, dt.time(), tz).timestamp() * 1000) for d in dates]
        weekend = np.array([d.weekday() >= 5 for d in dates[:days]])
        return cls(start, days, zone, np.array(midnights, dtype=np.int64), weekend)

    @property
    def end(self) -> dt.date:
        """The first day after the period."""
        return self.start + dt.timedelta(days=self.days)

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)

    def instants(self, day: np.ndarray, hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One instant per entry of `day`, its local hour drawn from the `hours` profile."""
        hour = rng.choice(24, size=day.size, p=hours)
        fraction = (hour + rng.random(day.size)) / 24.0
        length = self.midnights[day + 1] - self.midnights[day]
        return self.midnights[day] + (fraction * length).astype(np.int64)

    def day_of(self, instant: np.ndarray) -> np.ndarray:
        """The period day an instant falls on (clipped to the period)."""
        day = np.searchsorted(self.midnights, instant, side="right") - 1
        return np.clip(day, 0, self.days - 1)


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A subscribers x days matrix of event counts -> (subscriber, day) per event, in subscriber-day order."""
    flat = counts.ravel()
    cell = np.repeat(np.arange(flat.size, dtype=np.int64), flat)
    return cell // counts.shape[1], cell % counts.shape[1]


def utc_text(ms: pl.Expr, fmt: str = "%Y-%m-%dT%H:%M:%S%.3fZ") -> pl.Expr:
    """UTC ms -> text in UTC (RFC 3339 with milliseconds by default)."""
    return pl.from_epoch(ms, time_unit="ms").dt.strftime(fmt)


def local_text(ms: pl.Expr, zone: str, fmt: str) -> pl.Expr:
    """UTC ms -> local wall-clock text in `zone`, as systems that export local time write it."""
    utc = pl.from_epoch(ms, time_unit="ms").dt.replace_time_zone("UTC")
    return utc.dt.convert_time_zone(zone).dt.strftime(fmt)


def draw(rate: np.ndarray, scale: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Poisson event counts from a per-subscriber daily rate times a subscribers x days factor, expanded."""
    return expand(rng.poisson(rate[:, None] * scale))
