"""The subscriber base: identities, plans, devices and each subscriber's life over the period, as numpy columns.

`alive` (subscribers x days, 0..1) scales every usage rate: zero before a new joiner's first full day and after a
churner's deactivation, decaying for declining users. `abroad` marks the days a subscriber roams."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from questline.simulate import personas as P
from questline.simulate.calendar import MS_PER_DAY, SHOP_HOURS, Calendar

COUNTRY_CODE = "44"
HOME_PLMN = "234-15"
PREPAID_PLANS = ("PAYG_STARTER", "PAYG_SAVER_5", "PAYG_DATA_10", "PAYG_UNLIMITED_20")
POSTPAID_PLANS = ("SIMO_12M_10GB", "SIMO_24M_UNLIMITED", "PAYM_5G_MAX", "BUSINESS_VOICE")
MONTHLY_FEE = {"SIMO_12M_10GB": 12.0, "SIMO_24M_UNLIMITED": 25.0, "PAYM_5G_MAX": 45.0, "BUSINESS_VOICE": 18.0}
SMARTPHONES = (
    "Apple iPhone 15", "Apple iPhone 13", "Samsung Galaxy S24", "Samsung Galaxy A54", "Google Pixel 8",
    "Xiaomi Redmi Note 13", "Motorola moto g84", "OnePlus 12",
)  # fmt: skip
FEATURE_PHONES = ("Nokia 105", "Doro 6820", "Nokia 2660 Flip")
# Trip destinations: ISO 3166 alpha-3 and the visited network (MCC-MNC).
DESTINATIONS = (
    ("ESP", "214-01"), ("FRA", "208-01"), ("ITA", "222-10"), ("DEU", "262-02"), ("USA", "310-260"),
    ("GRC", "202-05"), ("PRT", "268-01"), ("TUR", "286-02"), ("IRL", "272-01"), ("NLD", "204-04"),
)  # fmt: skip
FIRST_NAMES = (
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Freya", "Lily", "Sophia", "Aisha", "Chloe", "Priya",
    "Noah", "Oliver", "George", "Arthur", "Leo", "Harry", "Oscar", "Jack", "Mohammed", "Jacob", "Ethan", "Rhys",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson", "Wright",
    "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Khan", "Lewis", "Clarke", "Jackson",
)  # fmt: skip
# The UK's twelve ITL1 regions; each location area (LAC) of the home network lies in one, in turn.
REGIONS = (
    "London", "South East", "North West", "East of England", "West Midlands", "South West", "Yorkshire and The Humber",
    "Scotland", "East Midlands", "Wales", "North East", "Northern Ireland",
)  # fmt: skip
CELLS_PER_AREA = 10
NEVER = 1 << 20  # a day index beyond any period


@dataclass(frozen=True)
class Population:
    persona: np.ndarray  # persona index per subscriber
    national: pl.Series  # 07712345678
    international: pl.Series  # 447712345678
    e164: pl.Series  # +447712345678
    imsi: pl.Series
    customer_id: pl.Series
    name: pl.Series
    prepaid: np.ndarray
    plan: pl.Series
    device: pl.Series
    app_user: np.ndarray
    install_day: np.ndarray  # day the app is installed in the period; -1 before it, NEVER for non-users
    activation_ms: np.ndarray  # UTC ms
    activation_day: np.ndarray  # -1 for lines activated before the period
    volume: np.ndarray  # personal usage multiplier, mean 1
    deactivation_day: np.ndarray  # NEVER when the line stays
    port_out: np.ndarray
    home_cell: np.ndarray
    on_ber_node: np.ndarray  # data sessions handled by the PGW that delivers raw BER CDRs
    bill_day: np.ndarray  # postpaid bill due day of month
    trip_start: np.ndarray  # NEVER when no trip
    trip_end: np.ndarray  # exclusive
    trip_destination: np.ndarray  # index into DESTINATIONS
    alive: np.ndarray  # subscribers x days activity factor
    abroad: np.ndarray  # subscribers x days

    @property
    def size(self) -> int:
        return int(self.persona.size)

    def rate(self, parameter: str) -> np.ndarray:
        """A persona parameter per subscriber."""
        return P.column(parameter)[self.persona]


BER_NODE_SHARE = 0.1


def build(subscribers: int, calendar: Calendar, rng: np.random.Generator) -> Population:
    persona = rng.permutation(np.repeat(np.arange(len(P.PERSONAS)), P.persona_counts(subscribers)))
    ids = _identities(subscribers, rng)
    lifecycle = _lifecycle(persona, calendar, rng)
    prepaid = rng.random(subscribers) < P.column("prepaid")[persona]
    app_user = rng.random(subscribers) < P.column("app_user")[persona]
    trips = _trips(persona, calendar.days, rng)
    alive = _alive(persona, lifecycle, calendar.days, rng)
    return Population(
        persona=persona,
        **ids,
        prepaid=prepaid,
        plan=_plans(prepaid, rng),
        device=_devices(app_user, rng),
        app_user=app_user,
        install_day=_install_days(persona, app_user, lifecycle["activation_day"], alive, rng),
        **lifecycle,
        volume=rng.gamma(4.0, 0.25, subscribers),
        home_cell=rng.integers(0, cell_count(subscribers), subscribers),
        on_ber_node=rng.random(subscribers) < BER_NODE_SHARE,
        bill_day=rng.integers(1, 29, subscribers),
        **trips,
        alive=alive,
        abroad=_abroad(trips["trip_start"], trips["trip_end"], calendar.days),
    )


def cell_count(subscribers: int) -> int:
    return max(20, subscribers // 40)


def home_cells(subscribers: int) -> pl.Series:
    """The home network's cells, `234-15-<LAC>-<CI>`, numbered so that the same base gets the same cells."""
    number = pl.int_range(cell_count(subscribers))
    ci = (10000 + number * 7).cast(pl.String).str.zfill(5)
    return pl.select(pl.format("{}-{}", _area(number // CELLS_PER_AREA), ci)).to_series().alias("cell")


def region_map(subscribers: int) -> pl.DataFrame:
    """The operator's map of its location areas (`234-15-<LAC>`) to regions: location, region."""
    area = pl.int_range((cell_count(subscribers) - 1) // CELLS_PER_AREA + 1)
    return pl.select(_area(area).alias("location"), _region(area).alias("region"))


def home_regions(pop: Population) -> pl.Series:
    """Each subscriber's region: that of the area of their home cell."""
    return pl.select(_region(pl.Series(pop.home_cell) // CELLS_PER_AREA)).to_series()


def _area(number: pl.Expr) -> pl.Expr:
    return pl.format(f"{HOME_PLMN}-{{}}", 1000 + number)


def _region(number: pl.Expr | pl.Series) -> pl.Expr:
    return pl.lit(pl.Series(REGIONS)).gather(number % len(REGIONS))


def _identities(n: int, rng: np.random.Generator) -> dict[str, Any]:
    """Unique UK mobile numbers (077 + 8 digits) and IMSIs (234 15 + 10 digits), drawn without replacement."""
    digits = _digits(rng.choice(100_000_000, size=n, replace=False), 8)
    msin = _digits(rng.choice(10_000_000_000, size=n, replace=False), 10)
    customer = _digits(1_000_000 + rng.choice(8_000_000, size=n, replace=False), 8)
    first = pl.Series(FIRST_NAMES).gather(rng.integers(0, len(FIRST_NAMES), n))
    last = pl.Series(LAST_NAMES).gather(rng.integers(0, len(LAST_NAMES), n))
    return {
        "national": ("077" + digits).alias("national"),
        "international": (COUNTRY_CODE + "77" + digits).alias("international"),
        "e164": ("+" + COUNTRY_CODE + "77" + digits).alias("e164"),
        "imsi": (HOME_PLMN.replace("-", "") + msin).alias("imsi"),
        "customer_id": ("CUS" + customer).alias("customer_id"),
        "name": (first + " " + last).alias("name"),
    }


def _digits(numbers: np.ndarray, width: int) -> pl.Series:
    return pl.Series(numbers).cast(pl.String).str.zfill(width)


def _plans(prepaid: np.ndarray, rng: np.random.Generator) -> pl.Series:
    pre = np.array(PREPAID_PLANS)[rng.choice(len(PREPAID_PLANS), prepaid.size, p=[0.3, 0.3, 0.25, 0.15])]
    post = np.array(POSTPAID_PLANS)[rng.choice(len(POSTPAID_PLANS), prepaid.size, p=[0.35, 0.3, 0.2, 0.15])]
    return pl.Series("plan", np.where(prepaid, pre, post), dtype=pl.String)


def _devices(app_user: np.ndarray, rng: np.random.Generator) -> pl.Series:
    smart = np.array(SMARTPHONES)[rng.integers(0, len(SMARTPHONES), app_user.size)]
    basic = np.array(FEATURE_PHONES)[rng.integers(0, len(FEATURE_PHONES), app_user.size)]
    # People without the app mostly still carry a smartphone; a third do not.
    return pl.Series("device", np.where(app_user | (rng.random(app_user.size) < 0.67), smart, basic), dtype=pl.String)


def _lifecycle(persona: np.ndarray, calendar: Calendar, rng: np.random.Generator) -> dict[str, Any]:
    n, days = persona.size, calendar.days
    joiner = persona == P.NEW_JOINER_INDEX
    activation_day = np.where(joiner, rng.integers(0, days, n), -1)
    in_period = calendar.instants(np.maximum(activation_day, 0), SHOP_HOURS, rng)
    tenure_days = 30 + np.minimum(rng.exponential(700.0, n), 2500).astype(np.int64)
    before = calendar.midnights[0] - tenure_days * MS_PER_DAY + rng.integers(9, 19, n) * 3_600_000
    activation_ms = np.where(joiner, in_period, before + rng.integers(0, 3_600_000, n))
    declining = persona == P.DECLINING_INDEX
    leaves = declining & (rng.random(n) < 0.65)
    earliest = min(max(1, days // 2), days - 1)
    leaving_day = rng.integers(earliest, days, n)  # in the second half of the period
    return {
        "activation_ms": activation_ms,
        "activation_day": activation_day,
        "deactivation_day": np.where(leaves, leaving_day, NEVER),
        "port_out": leaves & (rng.random(n) < 0.7),
    }


def _alive(persona: np.ndarray, lifecycle: dict[str, np.ndarray], days: int, rng: np.random.Generator) -> np.ndarray:
    day = np.arange(days)[None, :]
    alive = np.ones((persona.size, days))
    alive[day <= lifecycle["activation_day"][:, None]] = 0.0  # new joiners: from their first full day
    declining = persona == P.DECLINING_INDEX
    decline_start = rng.integers(0, max(1, days // 3), persona.size)[:, None]
    end = np.minimum(lifecycle["deactivation_day"], days)[:, None]
    rate = np.log(8.0) / np.maximum(1, end - decline_start)  # down to an eighth by the end of the line
    decay = np.exp(-rate * np.maximum(0, day - decline_start))
    alive = np.where(declining[:, None], alive * decay, alive)
    alive[day >= lifecycle["deactivation_day"][:, None]] = 0.0
    return alive


def _install_days(
    persona: np.ndarray, app_user: np.ndarray, activation_day: np.ndarray, alive: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """New joiners install on activation; a few existing users install during the period (while the line is in
    use); most had the app before."""
    n, days = alive.shape
    day = rng.integers(0, days, n)
    later = (rng.random(n) < 0.08) & (alive[np.arange(n), day] > 0)
    install = np.where(later, day, -1)
    install = np.where(persona == P.NEW_JOINER_INDEX, activation_day, install)
    return np.where(app_user, install, NEVER)


def _trips(persona: np.ndarray, days: int, rng: np.random.Generator) -> dict[str, Any]:
    n = persona.size
    travels = rng.random(n) < P.column("trip")[persona]
    length = np.minimum(rng.integers(3, 11, n), days)
    start = rng.integers(0, np.maximum(1, days - length + 1))
    return {
        "trip_start": np.where(travels, start, NEVER),
        "trip_end": np.where(travels, start + length, NEVER),
        "trip_destination": rng.integers(0, len(DESTINATIONS), n),
    }


def _abroad(start: np.ndarray, end: np.ndarray, days: int) -> np.ndarray:
    day = np.arange(days)[None, :]
    return (day >= start[:, None]) & (day < end[:, None])
