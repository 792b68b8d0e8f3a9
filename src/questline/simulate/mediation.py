"""The mediation system's CDR export: semicolon-delimited, no header, one file per local day, times local.

Voice and SMS for everyone, and data sessions for subscribers whose traffic does not go through the PGW node that
delivers raw BER files."""

from __future__ import annotations

from typing import Any

import polars as pl

from questline.events.vocabulary import SourceKind
from questline.simulate.calendar import Calendar, local_text
from questline.simulate.feed import Defect, Feed, day_file
from questline.simulate.population import DESTINATIONS, Population

SOURCE = "mediation-cdr"
COLUMNS = [
    "record_id", "record_type", "served_msisdn", "other_party", "start_time", "duration_s", "volume_kb",
    "cell_id", "roaming", "visited_country", "tariff_class", "served_imsi",
]  # fmt: skip
DIRECTORY = "cdr/mediation"


def feed(usage: pl.DataFrame, pop: Population, cal: Calendar, first_record: int = 1) -> Feed:
    on_ber = pl.Series(pop.on_ber_node).gather(usage["_sub"])
    rows = usage.filter((pl.col("code") != "GPRS") | ~on_ber)
    sub = rows["_sub"].to_numpy()
    country = pl.Series([c for c, _ in DESTINATIONS]).gather(pop.trip_destination[sub])
    dates = [cal.date(d).strftime("%Y%m%d") for d in range(cal.days)]
    records = rows.select(
        "_sub",
        "_type",
        pl.Series("_file", day_file(f"{DIRECTORY}/MED_CDR_", ".csv", dates)(rows["day"].to_numpy())),
        (pl.lit("M") + (pl.int_range(pl.len()) + first_record).cast(pl.String).str.zfill(11)).alias("record_id"),
        pl.col("code").alias("record_type"),
        pop.national.gather(sub).alias("served_msisdn"),
        pl.col("other").alias("other_party"),
        local_text(pl.col("t"), cal.zone, "%Y%m%d%H%M%S").alias("start_time"),
        pl.col("duration_s").cast(pl.String),
        pl.col("volume_kb").cast(pl.String),
        pl.col("cell").alias("cell_id"),
        pl.col("abroad").cast(pl.Int8).cast(pl.String).alias("roaming"),
        pl.when(pl.col("abroad")).then(country).alias("visited_country"),
        "tariff_class",
        pop.imsi.gather(sub).alias("served_imsi"),
    )
    return Feed(SOURCE, SourceKind.CDR, records, render, DEFECTS, resend_share=0.0005)


def render(records: pl.DataFrame) -> pl.Series:
    return records.select(pl.concat_str([pl.col(c).fill_null("") for c in COLUMNS], separator=";"))[:, 0]


DEFECTS = (
    Defect("wrong field count", lambda records: render(records).str.replace(r";[^;]*$", "")),
    Defect("unparseable timestamp", lambda records: render(records.with_columns(start_time=pl.lit("00000000000000")))),
    Defect("unknown record type", lambda records: render(records.with_columns(record_type=pl.lit("USSD")))),
    Defect("missing subscriber", lambda records: render(records.with_columns(served_msisdn=pl.lit(None)))),
)


def spec(zone: str) -> dict[str, Any]:
    """This feed's entry in sources.yaml."""
    return {
        "name": SOURCE,
        "kind": "cdr",
        "description": "Mediation CDR export: voice, SMS and data records, local time, semicolon-separated",
        "format": {"type": "csv", "delimiter": ";", "header": False, "columns": COLUMNS},
        "location": {"files": f"{DIRECTORY}/MED_CDR_*.csv"},
        "schedule": "15m",
        "mapping": {
            "subscriber_id": {"field": "served_msisdn", "msisdn": {"country_code": "44"}},
            "event_time": {"field": "start_time", "format": "%Y%m%d%H%M%S", "timezone": zone},
            "event_type": {
                "field": "record_type",
                "lookup": {
                    "MOC": "voice_call",
                    "MTC": "voice_call",
                    "SMSMO": "sms",
                    "SMSMT": "sms",
                    "GPRS": "data_session",
                },
            },
            "value": {
                "default": {"const": 1},
                "by_type": {
                    "voice_call": {"field": "duration_s", "unit": "s"},
                    "data_session": {"field": "volume_kb", "unit": "kB"},
                },
            },
            "attributes": {
                "direction": {
                    "field": "record_type",
                    "lookup": {"MOC": "out", "MTC": "in", "SMSMO": "out", "SMSMT": "in", "GPRS": None},
                },
                "on_net": {
                    "field": "tariff_class",
                    "lookup": {"ONNET": True, "OFFNET": False, "FIXED": False, "INTL": False, "DATA": None},
                },
                "roaming": "roaming",
                "country": "visited_country",
                "cell": "cell_id",
            },
            "natural_key": ["record_id"],
        },
    }
