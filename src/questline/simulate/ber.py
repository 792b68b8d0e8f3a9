"""Raw PGW charging data records (3GPP TS 32.298 pGWRecords, BER, TS 32.297 file headers) from the one PGW node
whose files reach us unmediated: one file a day.

The PGW cuts a partial record of an always-on default bearer at least once a day, so each subscriber-day with data
becomes one record, which also keeps this feed (decoded record by record) small next to the mediation CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from questline.events.vocabulary import SourceKind
from questline.simulate.calendar import Calendar
from questline.simulate.feed import Written, bad_count, tally
from questline.simulate.pgw_cdr import write_pgw_cdr_file
from questline.simulate.population import DESTINATIONS, HOME_PLMN, Population

SOURCE = "pgw-ber"
DIRECTORY = "cdr/pgw"
NODE = "PGW-LON-01"
APN = "internet.operator.co.uk"
FIRST_CHARGING_ID = 400_000_000
RAT_EUTRAN, RAT_NR = 6, 10
UPLINK_SHARE = 0.12


def daily_usage(usage: pl.DataFrame, pop: Population) -> pl.DataFrame:
    """The node's subscribers' data usage in `usage`, per subscriber-day."""
    data = usage.filter((pl.col("code") == "GPRS") & pl.Series(pop.on_ber_node).gather(usage["_sub"]))
    return data.group_by("_sub", "day").agg(
        pl.col("t").min().alias("first"),
        (pl.col("t") + pl.col("duration_s") * 1000).max().alias("last"),
        (pl.col("volume_kb").sum() * 1000).alias("bytes"),
        pl.col("abroad").first(),
    )


def sessions(daily: pl.DataFrame, pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    """One record per data-active subscriber-day of the node's subscribers, in time order, with `broken` marked."""
    daily = daily.sort("first", "_sub")
    sub = daily["_sub"].to_numpy()
    visited = pl.Series([plmn for _, plmn in DESTINATIONS]).gather(pop.trip_destination[sub])
    uplink = (daily["bytes"].to_numpy() * rng.uniform(0.6, 1.4, sub.size) * UPLINK_SHARE).astype(np.int64)
    broken = np.zeros(daily.height, dtype=bool)
    broken[rng.choice(daily.height, size=min(daily.height, bad_count(daily.height)), replace=False)] = True
    end = int(cal.midnights[-1])
    return daily.select(
        "_sub",
        "day",
        (FIRST_CHARGING_ID + pl.int_range(pl.len())).cast(pl.Int64).alias("charging_id"),
        pop.imsi.gather(sub).alias("imsi"),
        pop.international.gather(sub).alias("msisdn"),
        pl.from_epoch((pl.col("first") // 1000) * 1000, time_unit="ms").dt.replace_time_zone("UTC").alias("start"),
        ((pl.min_horizontal("last", end) - pl.col("first")) // 1000).clip(1, 86_399).cast(pl.Int64).alias("duration_s"),
        pl.Series(uplink).alias("uplink_bytes"),
        (pl.col("bytes") - pl.Series(uplink)).clip(0).cast(pl.Int64).alias("downlink_bytes"),
        pl.lit(APN).alias("apn"),
        pl.when("abroad").then(visited).otherwise(pl.lit(HOME_PLMN)).alias("serving_plmn"),
        pl.when(pop.plan.gather(sub) == "PAYM_5G_MAX")
        .then(RAT_NR)
        .otherwise(RAT_EUTRAN)
        .cast(pl.Int64)
        .alias("rat_type"),
        pl.Series("broken", broken),
    )


def write(daily: pl.DataFrame, pop: Population, cal: Calendar, out: Path, rng: np.random.Generator) -> Written:
    """`daily`: the period's `daily_usage`. One file a day, numbered in sequence as the node numbers them."""
    frame = sessions(daily, pop, cal, rng)
    files = []
    for sequence, part in enumerate(frame.partition_by("day", maintain_order=True), start=1):
        name = f"{DIRECTORY}/{NODE}_{cal.date(int(part['day'][0])).strftime('%Y%m%d')}_{sequence:04d}.ber"
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        write_pgw_cdr_file(out / name, part, node=NODE, file_header=True, file_sequence=sequence)
        files.append(name)
    good = tally(frame.filter(~pl.col("broken")).select("_sub", pl.lit("data_session").alias("_type")))
    bad = {"corrupt BER record": int(frame["broken"].sum())}
    return Written(SOURCE, SourceKind.CDR, files, frame.height, bad, 0, good)


CHARGING_SELECTION = {  # chChSelectionMode: whether the PGW charged the session as roaming
    "servingNodeSupplied": False,
    "subscriptionSpecific": False,
    "aPNSpecific": False,
    "homeDefault": False,
    "roamingDefault": True,
    "visitingDefault": True,
    "fixedDefault": False,
}


def spec() -> dict[str, Any]:
    countries: dict[str, object] = {HOME_PLMN: None, **{plmn: country for country, plmn in DESTINATIONS}}
    return {
        "name": SOURCE,
        "kind": "cdr",
        "description": f"Raw 3GPP TS 32.298 pGWRecords from {NODE}, BER with TS 32.297 file headers",
        "format": {"type": "ber", "record_type": "GPRSRecord", "file_header": "ts32297"},
        "location": {"files": f"{DIRECTORY}/{NODE}_*.ber"},
        "schedule": "15m",
        "mapping": {
            "subscriber_id": {"field": "servedMSISDN", "msisdn": {"country_code": "44"}},
            "event_time": {"field": "recordOpeningTime"},
            "event_type": {"const": "data_session"},
            "value": {
                "sum": ["listOfServiceData[*].datavolumeFBCUplink", "listOfServiceData[*].datavolumeFBCDownlink"],
                "unit": "bytes",
            },
            "attributes": {
                "roaming": {"field": "chChSelectionMode", "lookup": CHARGING_SELECTION},
                "country": {"field": "servingNodePLMNIdentifier", "lookup": countries},
            },
            "natural_key": ["nodeID", "chargingID", "recordOpeningTime"],
        },
    }
