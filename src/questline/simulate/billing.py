"""Billing: prepaid top-ups as TM Forum TMF654 TopupBalance JSON, and the billing system's transaction export
(bundle purchases, postpaid bill payments, auto-renew switched on) as JSON Lines with local times."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from questline.events.vocabulary import SourceKind
from questline.simulate import personas as P
from questline.simulate.calendar import OFFICE_HOURS, Calendar, draw, local_text, utc_text
from questline.simulate.feed import Defect, Feed, day_file, table
from questline.simulate.population import Population

TOPUP_SOURCE = "tmf654-topups"
TOPUP_DIRECTORY = "billing/topups"
CURRENCY = "GBP"
CHANNELS = ("APP", "WEB", "RETAIL", "VOUCHER", "IVR")
APP_USER_CHANNELS = (0.5, 0.2, 0.15, 0.1, 0.05)
OTHER_CHANNELS = (0.0, 0.15, 0.45, 0.25, 0.15)


def topups(pop: Population, cal: Calendar, rng: np.random.Generator) -> Feed:
    rate = np.where(pop.prepaid, pop.rate("recharges"), 0.0)
    sub, day = draw(rate, pop.alive * np.sqrt(pop.volume)[:, None], rng)
    t = cal.instants(day, OFFICE_HOURS, rng)
    first = np.flatnonzero(pop.prepaid & (pop.activation_day >= 0))  # a new line's first top-up, at the shop
    sub = np.concatenate([sub, first])
    t = np.concatenate([t, pop.activation_ms[first] + rng.integers(5, 60, first.size) * 60_000])
    order = np.lexsort((sub, t))
    sub, t = sub[order], t[order]
    frame = table({"_sub": sub, "t": t, "amount": _amounts(pop.persona[sub], rng)})
    channel = _channels(pop.app_user[sub], rng)
    dates = [cal.date(d).strftime("%Y%m%d") for d in range(cal.days)]
    records = frame.select(
        "_sub",
        pl.lit("recharge").alias("_type"),
        pl.Series("_file", day_file(f"{TOPUP_DIRECTORY}/TOPUP_", ".json", dates)(cal.day_of(t))),
        (pl.lit("TU") + pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(10)).alias("id"),
        "amount",
        channel.alias("channel"),
        pop.national.gather(sub).alias("msisdn"),
        pop.customer_id.gather(sub).alias("customer"),
        pop.name.gather(sub).alias("name"),
        pop.plan.gather(sub).alias("plan"),
        utc_text(pl.col("t") - 2_000 - pl.col("t") % 1_000).alias("requested"),
        utc_text(pl.col("t")).alias("confirmed"),
        local_text(pl.col("t"), cal.zone, "%d/%m/%Y %H:%M:%S").alias("_local"),
    )
    return Feed(TOPUP_SOURCE, SourceKind.BILLING, records, render_topups, TOPUP_DEFECTS, layout="json_array")


def _amounts(persona: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    amount = np.zeros(persona.size)
    for number, persona_spec in enumerate(P.PERSONAS):
        rows = np.flatnonzero(persona == number)
        amount[rows] = np.array(persona_spec.recharge_amounts)[
            rng.integers(0, len(persona_spec.recharge_amounts), rows.size)
        ]
    return amount


def _channels(app_user: np.ndarray, rng: np.random.Generator) -> pl.Series:
    with_app = rng.choice(len(CHANNELS), app_user.size, p=APP_USER_CHANNELS)
    without = rng.choice(len(CHANNELS), app_user.size, p=OTHER_CHANNELS)
    return pl.Series(CHANNELS).gather(np.where(app_user, with_app, without))


def render_topups(records: pl.DataFrame) -> pl.Series:
    """TMF654 TopupBalance, members in the order of the TM Forum sample."""
    href = "/tmf-api/prepayBalanceManagement/v4/topupBalance/"
    party = pl.struct(
        pl.col("customer").alias("id"),
        ("/tmf-api/customerManagement/v4/customer/" + pl.col("customer")).alias("href"),
        "name",
        pl.lit("customer").alias("role"),
        pl.lit("Customer").alias("@referredType"),
    )
    topup = pl.struct(
        "id",
        (href + pl.col("id")).alias("href"),
        pl.format("Top-up of {} {} via {}", pl.col("amount").cast(pl.Int64), pl.lit(CURRENCY), "channel").alias(
            "description"
        ),
        pl.struct(pl.col("amount"), pl.lit(CURRENCY).alias("units")).alias("amount"),
        pl.lit(False).alias("isAutoTopup"),
        pl.lit("monetary").alias("usageType"),
        pl.struct(("PRD" + pl.col("customer").str.slice(3)).alias("id"), pl.col("plan").alias("name")).alias("product"),
        pl.struct(("ACC" + pl.col("customer").str.slice(3)).alias("id")).alias("partyAccount"),
        pl.struct(pl.col("channel").alias("name")).alias("channel"),
        pl.struct(
            ("LR" + pl.col("customer").str.slice(3)).alias("id"),
            pl.lit("MSISDN").alias("@type"),
            pl.col("msisdn").alias("value"),
        ).alias("logicalResource"),
        pl.concat_list(party).alias("relatedParty"),
        pl.lit("confirmed").alias("status"),
        pl.col("requested").alias("requestedDate"),
        pl.col("confirmed").alias("confirmationDate"),
    )
    return records.select(topup.struct.json_encode())[:, 0]


TOPUP_DEFECTS = (
    Defect("missing subscriber", lambda r: render_topups(r).str.replace(r'"logicalResource":\{[^}]*\},', "")),
    Defect(
        "unparseable timestamp",
        lambda r: render_topups(r.with_columns(pl.col("_local").alias("confirmed"))),
    ),
    Defect("negative amount", lambda r: render_topups(r.with_columns(-pl.col("amount")))),
)


def topup_spec() -> dict[str, Any]:
    return {
        "name": TOPUP_SOURCE,
        "kind": "billing",
        "description": "Prepaid top-ups from the charging system, TMF654 TopupBalance resources, one file a day",
        "format": {"type": "tmf654_topup"},
        "location": {"files": f"{TOPUP_DIRECTORY}/TOPUP_*.json"},
        "schedule": "15m",
        "mapping": {
            "subscriber_id": {"field": "logicalResource.value", "msisdn": {"country_code": "44"}},
            "event_time": {"field": "confirmationDate"},
            "event_type": {"const": "recharge"},
            "value": {"field": "amount.amount", "unit": "units"},
            "attributes": {"currency": "amount.units", "channel": "channel.name", "product": "product.name"},
            "natural_key": ["id"],
        },
    }
