"""The billing system's transaction export: JSON Lines, one file a day, local times, amounts in pence.

Bundle purchases (roamers buy day passes abroad), postpaid bill payments on or after their due date, and
auto-renew / auto top-up switched on."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from questline.events.vocabulary import SourceKind
from questline.simulate import personas as P
from questline.simulate.calendar import MS_PER_HOUR, OFFICE_HOURS, Calendar, draw, local_text
from questline.simulate.feed import Defect, Feed, day_file, encode_by, table
from questline.simulate.population import MONTHLY_FEE, Population

SOURCE = "billing-transactions"
DIRECTORY = "billing/transactions"
CURRENCY = "GBP"
BUNDLES = (  # code, price in pence
    ("NIGHT_DATA_UNL_1D", 100), ("SOCIAL_UNL_7D", 250), ("DATA_1GB_7D", 300), ("INTL_100MIN_30D", 500),
    ("DATA_5GB_30D", 1000), ("DATA_20GB_30D", 2000),
)  # fmt: skip
CHEAP, REGULAR = (0.4, 0.35, 0.25, 0.0, 0.0, 0.0), (0.0, 0.1, 0.3, 0.15, 0.3, 0.15)
ROAMING_PASS = ("ROAM_DAY_PASS", 200)
CODES = {"bundle_purchase": "BUNDLE_PURCHASE", "bill_payment": "BILL_PAYMENT", "auto_renew_enabled": "AUTO_RENEW_ON"}
COMMON = ("txn_id", "txn_type", "account_id", "msisdn", "posted_at")


def feed(pop: Population, cal: Calendar, rng: np.random.Generator) -> Feed:
    parts = [_bundles(pop, cal, rng), _roaming_passes(pop, cal, rng), _bills(pop, cal, rng), _auto_renew(pop, cal, rng)]
    frame = pl.concat(parts, how="diagonal").sort("t", "_sub", maintain_order=True)
    sub = frame["_sub"].to_numpy()
    dates = [cal.date(d).strftime("%Y%m%d") for d in range(cal.days)]
    records = frame.with_columns(
        pl.Series("_file", day_file(f"{DIRECTORY}/BILLING_", ".jsonl", dates)(cal.day_of(frame["t"].to_numpy()))),
        (pl.lit("BT") + pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(10)).alias("txn_id"),
        pl.col("_type").replace_strict(CODES).alias("txn_type"),
        ("ACC" + pop.customer_id.gather(sub).str.slice(3)).alias("account_id"),
        pop.international.gather(sub).alias("msisdn"),
        local_text(pl.col("t"), cal.zone, "%Y-%m-%d %H:%M:%S").alias("posted_at"),
        pl.lit(CURRENCY).alias("currency"),
    )
    return Feed(SOURCE, SourceKind.BILLING, records, render, DEFECTS)


def _bundles(pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    sub, day = draw(pop.rate("bundles"), pop.alive * np.sqrt(pop.volume)[:, None], rng)
    cheap = pop.persona[sub] == P.PERSONA_NAMES.index("bargain_hunter")
    pick = np.where(cheap, rng.choice(len(BUNDLES), sub.size, p=CHEAP), rng.choice(len(BUNDLES), sub.size, p=REGULAR))
    return table(
        {
            "_sub": sub,
            "_type": "bundle_purchase",
            "t": cal.instants(day, OFFICE_HOURS, rng),
            "product_code": pl.Series([c for c, _ in BUNDLES]).gather(pick),
            "amount_minor": np.array([p for _, p in BUNDLES])[pick],
            "channel": _channel(pop.app_user[sub], rng),
        }
    )


def _roaming_passes(pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    """Most travellers buy a day pass on most days abroad, in the morning."""
    sub, day = np.nonzero(pop.abroad & (rng.random(pop.abroad.shape) < 0.6) & (pop.alive > 0))
    morning = cal.midnights[day] + rng.integers(7 * MS_PER_HOUR, 11 * MS_PER_HOUR, sub.size)
    return table(
        {
            "_sub": sub.astype(np.int64),
            "_type": "bundle_purchase",
            "t": morning,
            "product_code": ROAMING_PASS[0],
            "amount_minor": np.full(sub.size, ROAMING_PASS[1]),
            "channel": _channel(pop.app_user[sub], rng),
        }
    )


def _channel(app_user: np.ndarray, rng: np.random.Generator) -> pl.Series:
    other = np.where(rng.random(app_user.size) < 0.5, "USSD", "WEB")
    return pl.Series(np.where(app_user & (rng.random(app_user.size) < 0.7), "APP", other))


def _bills(pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    """One bill a month per postpaid line, due on its bill day; paid up to a week early, or late."""
    parts = [_month_bills(pop, cal, month, rng) for month in _months(cal)]
    return pl.concat(parts)


def _months(cal: Calendar) -> list[dt.date]:
    first = dt.date(cal.start.year, cal.start.month, 1)
    months = []
    while first < cal.end:
        months.append(first)
        first = (first + dt.timedelta(days=32)).replace(day=1)
    return months


def _month_bills(pop: Population, cal: Calendar, month: dt.date, rng: np.random.Generator) -> pl.DataFrame:
    n = pop.size
    due = (month - cal.start).days + pop.bill_day - 1
    late = rng.random(n) < pop.rate("late_payer")
    paid = due + np.where(late, rng.integers(1, 13, n), -rng.integers(0, 7, n))
    inside = np.clip(paid, 0, cal.days - 1)
    keep = ~pop.prepaid & (paid >= 0) & (paid < cal.days) & (pop.alive[np.arange(n), inside] > 0)
    keep &= (pop.activation_day < 0) | (pop.activation_day < due - 20)  # a new line's first bill comes later
    sub = np.flatnonzero(keep)
    fee = pop.plan.gather(sub).replace_strict(MONTHLY_FEE, return_dtype=pl.Float64).to_numpy()
    extras = rng.lognormal(0.8, 1.0, sub.size)  # calls and roaming beyond the allowance
    due_date = pl.Series(np.datetime64(month) + (pop.bill_day[sub] - 1).astype("timedelta64[D]"))
    return table(
        {
            "_sub": sub.astype(np.int64),
            "_type": "bill_payment",
            "t": cal.instants(inside[sub], OFFICE_HOURS, rng),
            "amount_minor": np.round((fee + extras) * 100).astype(np.int64),
            "invoice_id": "INV" + pop.customer_id.gather(sub).str.slice(3) + month.strftime("%Y%m"),
            "due_date": due_date.dt.strftime("%Y-%m-%d"),
            "payment_status": np.where(late[sub], "LATE", "ON_TIME"),
            "channel": np.where(late[sub], "CARD", "DIRECT_DEBIT"),
        }
    )


def _auto_renew(pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    """Switched on once, on a day the line is in use: auto top-up for prepaid, bundle renewal for postpaid."""
    n = pop.size
    day = rng.integers(0, cal.days, n)
    sub = np.flatnonzero((rng.random(n) < pop.rate("auto_renew")) & (pop.alive[np.arange(n), day] > 0))
    bundle = pl.Series([c for c, _ in BUNDLES]).gather(rng.integers(2, len(BUNDLES), sub.size))
    return table(
        {
            "_sub": sub.astype(np.int64),
            "_type": "auto_renew_enabled",
            "t": cal.instants(day[sub], OFFICE_HOURS, rng),
            "product_code": pl.select(
                pl.when(pl.Series(pop.prepaid[sub])).then(pl.lit("AUTO_TOPUP")).otherwise(bundle)
            ).to_series(),
            "channel": _channel(pop.app_user[sub], rng),
        }
    )


SHAPES = {
    "bundle_purchase": [*COMMON, "amount_minor", "currency", "product_code", "channel"],
    "bill_payment": [*COMMON, "amount_minor", "currency", "invoice_id", "due_date", "payment_status", "channel"],
    "auto_renew_enabled": [*COMMON, "product_code", "channel"],
}


def render(records: pl.DataFrame) -> pl.Series:
    return encode_by(records, "_type", {t: [pl.col(c) for c in members] for t, members in SHAPES.items()})


DEFECTS = (
    Defect("invalid JSON", lambda r: render(r).str.slice(0, render(r).str.len_chars() // 2)),
    Defect("unknown transaction type", lambda r: render(r).str.replace(r'"txn_type":"[^"]*"', '"txn_type":"REFUND"')),
    Defect("missing subscriber", lambda r: render(r).str.replace(r'"msisdn":"[^"]*",', "")),
)


def spec(zone: str) -> dict[str, Any]:
    return {
        "name": SOURCE,
        "kind": "billing",
        "description": "Billing transactions: bundle purchases, bill payments, auto-renew; local times, pence",
        "format": {"type": "jsonl"},
        "location": {"files": f"{DIRECTORY}/BILLING_*.jsonl"},
        "schedule": "1h",
        "mapping": {
            "subscriber_id": {"field": "msisdn", "msisdn": {"country_code": "44"}},
            "event_time": {"field": "posted_at", "format": "%Y-%m-%d %H:%M:%S", "timezone": zone},
            "event_type": {"field": "txn_type", "lookup": {code: name for name, code in CODES.items()}},
            "value": {
                "default": {"const": 1},
                "by_type": {
                    "bundle_purchase": {"field": "amount_minor", "unit": "minor"},
                    "bill_payment": {"field": "amount_minor", "unit": "minor"},
                },
            },
            "attributes": {
                "product": "product_code",
                "currency": "currency",
                "channel": "channel",
                "on_time": {"field": "payment_status", "lookup": {"ON_TIME": True, "LATE": False}},
            },
            "natural_key": ["txn_id"],
        },
    }
