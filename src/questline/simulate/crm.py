"""CRM: customers as TM Forum TMF629 Customer JSON (a full extract of the existing base, then a daily extract of
new lines), and the CRM's change log as CSV with a header: plan changes, complaints, port-out requests,
deactivations. The change log's times are local, day first, as a UK back office writes them."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from questline.events.vocabulary import SourceKind
from questline.simulate import personas as P
from questline.simulate.calendar import MS_PER_HOUR, OFFICE_HOURS, Calendar, draw, local_text, utc_text
from questline.simulate.feed import Defect, Feed, day_file, table
from questline.simulate.population import NEVER, POSTPAID_PLANS, PREPAID_PLANS, Population

CUSTOMER_SOURCE = "tmf629-customers"
CUSTOMER_DIRECTORY = "crm/customers"
CHANGE_SOURCE = "crm-changes"
CHANGE_DIRECTORY = "crm/changes"
CODES = {
    "plan_changed": "PLAN_CHANGE",
    "complaint": "COMPLAINT",
    "port_out_request": "PORT_OUT_REQUEST",
    "deactivated": "DEACTIVATION",
}
COMPLAINTS = ("NETWORK_COVERAGE", "DATA_SPEED", "DROPPED_CALLS", "BILLING_DISPUTE", "ROAMING_CHARGES", "SERVICE")
DECLINING_COMPLAINTS = (0.25, 0.25, 0.2, 0.15, 0.05, 0.1)
OTHER_COMPLAINTS = (0.15, 0.15, 0.1, 0.3, 0.1, 0.2)
CHANGE_COLUMNS = ("change_id", "customer_id", "msisdn", "change_type", "changed_at", "old_value", "new_value",
                  "reason", "channel")  # fmt: skip


# ---- TMF629 customers ----------------------------------------------------------------------------------------


def customers(pop: Population, cal: Calendar) -> Feed:
    order = np.lexsort((np.arange(pop.size), pop.activation_ms))
    joiner = pop.activation_day[order] >= 0
    dates = [cal.date(d).strftime("%Y%m%d") for d in range(cal.days)]
    daily = day_file(f"{CUSTOMER_DIRECTORY}/CUSTOMERS_DELTA_", ".json", dates)(np.maximum(pop.activation_day[order], 0))
    full = f"{CUSTOMER_DIRECTORY}/CUSTOMERS_FULL_{cal.start.strftime('%Y%m%d')}.json"
    records = table(
        {
            "_sub": order.astype(np.int64),
            "_type": "subscriber_activated",
            "_file": np.where(joiner, daily, full),
            "id": pop.customer_id.gather(order),
            "name": pop.name.gather(order),
            "msisdn": pop.international.gather(order),
            "national": pop.national.gather(order),
            "imsi": pop.imsi.gather(order),
            "plan": pop.plan.gather(order),
            "payment": np.where(pop.prepaid[order], "prepaid", "postpaid"),
            "device": pop.device.gather(order),
            "t": pop.activation_ms[order],
        }
    ).with_columns(
        utc_text(pl.col("t")).alias("start"),
        local_text(pl.col("t"), cal.zone, "%d/%m/%Y %H:%M").alias("_local"),
    )
    return Feed(CUSTOMER_SOURCE, SourceKind.CRM, records, render_customers, CUSTOMER_DEFECTS, layout="json_array")


def _characteristic(name: str, column: str) -> pl.Expr:
    return pl.struct(pl.lit(name).alias("name"), pl.col(column).alias("value"), pl.lit("string").alias("valueType"))


def render_customers(records: pl.DataFrame) -> pl.Series:
    """TMF629 Customer: the line's identifiers and plan as characteristics, activation as validFor.start."""
    digits = pl.col("id").str.slice(3)
    phone = pl.struct(pl.col("national").alias("phoneNumber"), pl.lit("mobile").alias("contactType"))
    customer = pl.struct(
        "id",
        ("/tmf-api/customerManagement/v4/customer/" + pl.col("id")).alias("href"),
        "name",
        pl.lit("Approved").alias("status"),
        pl.lit("Line active").alias("statusReason"),
        pl.struct(pl.col("start").alias("startDateTime")).alias("validFor"),
        pl.struct(("IND" + digits).alias("id"), pl.col("name"), pl.lit("Individual").alias("@referredType")).alias(
            "engagedParty"
        ),
        pl.concat_list(
            pl.struct(
                ("ACC" + digits).alias("id"),
                pl.lit("Mobile account").alias("name"),
                pl.lit("BillingAccount").alias("@referredType"),
            )
        ).alias("account"),
        pl.concat_list(
            pl.struct(
                pl.lit(True).alias("preferred"),
                pl.lit("TelephoneNumber").alias("mediumType"),
                phone.alias("characteristic"),
            )
        ).alias("contactMedium"),
        pl.concat_list(
            _characteristic("msisdn", "msisdn"),
            _characteristic("imsi", "imsi"),
            _characteristic("plan", "plan"),
            _characteristic("paymentType", "payment"),
            _characteristic("device", "device"),
        ).alias("characteristic"),
        pl.lit("Customer").alias("@type"),
    )
    return records.select(customer.struct.json_encode())[:, 0]


CUSTOMER_DEFECTS = (
    Defect(
        "missing subscriber",
        lambda r: render_customers(r).str.replace(r'\{"name":"msisdn","value":"[^"]*","valueType":"string"\},', ""),
    ),
    Defect("unparseable timestamp", lambda r: render_customers(r.with_columns(pl.col("_local").alias("start")))),
)


def customer_spec() -> dict[str, Any]:
    return {
        "name": CUSTOMER_SOURCE,
        "kind": "crm",
        "description": "Customers from CRM, TMF629 Customer resources: a full extract, then daily new lines",
        "format": {"type": "tmf629_customer"},
        "location": {"files": f"{CUSTOMER_DIRECTORY}/CUSTOMERS_*.json"},
        "schedule": "1d",
        "mapping": {
            "subscriber_id": {"field": "characteristic[name=msisdn].value", "msisdn": {"country_code": "44"}},
            "event_time": {"field": "validFor.startDateTime"},
            "event_type": {"const": "subscriber_activated"},
            "attributes": {
                "plan": "characteristic[name=plan].value",
                "device": "characteristic[name=device].value",
            },
            "natural_key": ["id"],
        },
    }


# ---- the change log ------------------------------------------------------------------------------------------


def changes(pop: Population, cal: Calendar, rng: np.random.Generator) -> Feed:
    parts = [_plan_changes(pop, cal, rng), _complaints(pop, cal, rng), *_leavers(pop, cal, rng)]
    frame = pl.concat(parts, how="diagonal").sort("t", "_sub", maintain_order=True)
    sub = frame["_sub"].to_numpy()
    dates = [cal.date(d).strftime("%Y%m%d") for d in range(cal.days)]
    records = frame.with_columns(
        pl.Series(
            "_file", day_file(f"{CHANGE_DIRECTORY}/CRM_CHANGES_", ".csv", dates)(cal.day_of(frame["t"].to_numpy()))
        ),
        (pl.lit("CH") + pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(9)).alias("change_id"),
        pop.customer_id.gather(sub).alias("customer_id"),
        pop.national.gather(sub).alias("msisdn"),
        pl.col("_type").replace_strict(CODES).alias("change_type"),
        local_text(pl.col("t"), cal.zone, "%d/%m/%Y %H:%M:%S").alias("changed_at"),
    )
    return Feed(CHANGE_SOURCE, SourceKind.CRM, records, render_changes, CHANGE_DEFECTS, header=",".join(CHANGE_COLUMNS))


def _plan_changes(pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    sub, day = draw(pop.rate("plan_changes"), pop.alive, rng)
    current = pop.plan.gather(sub)
    plans = pl.Series([*PREPAID_PLANS, *POSTPAID_PLANS])
    position = current.replace_strict({p: i for i, p in enumerate(plans)}, return_dtype=pl.Int64).to_numpy()
    family = np.where(position < len(PREPAID_PLANS), 0, len(PREPAID_PLANS))
    size = np.where(family == 0, len(PREPAID_PLANS), len(POSTPAID_PLANS))
    other = family + (position - family + rng.integers(1, size)) % size  # another plan of the same kind
    channel = np.array(["APP", "ONLINE", "CALL_CENTRE", "SHOP"])[rng.integers(0, 4, sub.size)]
    return table(
        {
            "_sub": sub,
            "_type": "plan_changed",
            "t": cal.instants(day, OFFICE_HOURS, rng),
            "old_value": current,
            "new_value": plans.gather(other),
            "reason": "CUSTOMER_REQUEST",
            "channel": channel,
        }
    )


def _complaints(pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    """Declining users complain while the line lasts, however little they use it."""
    declining = pop.persona == P.DECLINING_INDEX
    scale = np.where(declining[:, None], pop.alive > 0, pop.alive)
    sub, day = draw(pop.rate("complaints"), scale, rng)
    unhappy = declining[sub]
    pick = np.where(
        unhappy,
        rng.choice(len(COMPLAINTS), sub.size, p=DECLINING_COMPLAINTS),
        rng.choice(len(COMPLAINTS), sub.size, p=OTHER_COMPLAINTS),
    )
    return table(
        {
            "_sub": sub,
            "_type": "complaint",
            "t": cal.instants(day, OFFICE_HOURS, rng),
            "reason": pl.Series(COMPLAINTS).gather(pick),
            "channel": np.where(rng.random(sub.size) < 0.7, "CALL_CENTRE", "APP"),
        }
    )


def _leavers(pop: Population, cal: Calendar, rng: np.random.Generator) -> list[pl.DataFrame]:
    """Port-out requests a few days before the line goes; every leaver is deactivated in the morning."""
    leaving = np.flatnonzero(pop.deactivation_day < NEVER)
    gone = pop.deactivation_day[leaving]
    porting = leaving[pop.port_out[leaving]]
    request = np.maximum(0, pop.deactivation_day[porting] - rng.integers(1, 6, porting.size))
    morning = rng.integers(8 * MS_PER_HOUR, 12 * MS_PER_HOUR, leaving.size)
    return [
        table(
            {
                "_sub": porting,
                "_type": "port_out_request",
                "t": cal.instants(request, OFFICE_HOURS, rng),
                "reason": "PAC_REQUESTED",
                "channel": "SMS_65075",
            }
        ),
        table(
            {
                "_sub": leaving,
                "_type": "deactivated",
                "t": cal.midnights[gone] + morning,
                "reason": np.where(pop.port_out[leaving], "PORTED_OUT", "CUSTOMER_REQUEST"),
                "channel": "SYSTEM",
            }
        ),
    ]


def render_changes(records: pl.DataFrame) -> pl.Series:
    return records.select(pl.concat_str([pl.col(c).fill_null("") for c in CHANGE_COLUMNS], separator=","))[:, 0]


CHANGE_DEFECTS = (
    Defect("unknown change type", lambda r: render_changes(r.with_columns(change_type=pl.lit("ADDRESS_CHANGE")))),
    Defect("unparseable timestamp", lambda r: render_changes(r.with_columns(pl.col("changed_at").str.slice(0, 10)))),
    Defect("missing subscriber", lambda r: render_changes(r.with_columns(msisdn=pl.lit(None)))),
    Defect("wrong field count", lambda r: render_changes(r.with_columns(reason=pl.lit("BILLING, ROAMING")))),
)


def change_spec(zone: str) -> dict[str, Any]:
    return {
        "name": CHANGE_SOURCE,
        "kind": "crm",
        "description": "CRM change log: plan changes, complaints, port-out requests, deactivations (CSV, local time)",
        "format": {"type": "csv", "delimiter": ",", "header": True},
        "location": {"files": f"{CHANGE_DIRECTORY}/CRM_CHANGES_*.csv"},
        "schedule": "1h",
        "mapping": {
            "subscriber_id": {"field": "msisdn", "msisdn": {"country_code": "44"}},
            "event_time": {"field": "changed_at", "format": "%d/%m/%Y %H:%M:%S", "timezone": zone},
            "event_type": {"field": "change_type", "lookup": {code: name for name, code in CODES.items()}},
            "attributes": {"plan": "new_value", "reason": "reason", "channel": "channel"},
            "natural_key": ["change_id"],
        },
    }
