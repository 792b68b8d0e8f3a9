"""3GPP TS 32.298 BER CDR files: the simulator's PGW writer read back by the reader, with and without TS 32.297
headers, broken and truncated records, and a vendor's own schema."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asn1tools
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from questline.kit.errors import ConfigError
from questline.simulate.pgw_cdr import corrupt_record, pgw_cdr_bytes, write_pgw_cdr_file
from questline.sources.formats import read
from questline.sources.formats.ts32297 import CdrHeader, FileHeader, HeaderTime, split
from questline.sources.spec import BerFormat

ACME = Path(__file__).parent.parent / "fixtures" / "vendor" / "acme_pgw.asn"
STANDARD = BerFormat()
SESSION_SCHEMA = {
    "charging_id": pl.Int64, "imsi": pl.String, "msisdn": pl.String, "start": pl.Datetime("us", "UTC"),
    "duration_s": pl.Int64, "uplink_bytes": pl.Int64, "downlink_bytes": pl.Int64, "apn": pl.String,
    "serving_plmn": pl.String, "rat_type": pl.Int64,
}  # fmt: skip


def sessions(**extra: list[Any]) -> pl.DataFrame:
    """Three sessions: a short one at home, a long roaming one (two containers), one across a year end."""
    return pl.DataFrame(
        {
            "charging_id": [1001, 1002, 4_000_000_000],
            "imsi": ["234150000000001", "234150000000002", "23415000000003"],
            "msisdn": ["447700900123", "447700900456", "4477009001"],
            "start": [
                datetime(2026, 11, 3, 14, 5),
                datetime(2026, 11, 3, 15, 0, 30),
                datetime(2026, 12, 31, 23, 59, 59),
            ],
            "duration_s": [600, 3600, 1],
            "uplink_bytes": [1_000, 5_000_001, 0],
            "downlink_bytes": [20_000, 70_000_000_000, 7],
            "apn": ["internet", "ims", "m2m.example"],
            "serving_plmn": ["234-15", "208-01", "310-260"],
            "rat_type": [6, 10, 1],
            **extra,
        },
        schema_overrides=SESSION_SCHEMA,
    )


def volumes(frame: pl.DataFrame, field: str) -> list[int]:
    return frame.select(pl.col("listOfServiceData").list.eval(pl.element().struct.field(field)).list.sum())[
        "listOfServiceData"
    ].to_list()


@pytest.mark.parametrize("file_header", [True, False])
def test_round_trip(tmp_path: Path, file_header: bool) -> None:
    path = tmp_path / "pgw.ber"
    write_pgw_cdr_file(path, sessions(), node="pgw-lon-1", file_header=file_header)

    records = read(path, STANDARD)

    assert records.bad.is_empty()
    frame = records.frame
    assert frame["_record"].to_list() == [0, 1, 2]
    assert frame["record_type"].to_list() == ["pGWRecord"] * 3
    assert frame["recordType"].to_list() == [85] * 3
    assert frame["servedIMSI"].to_list() == ["234150000000001", "234150000000002", "23415000000003"]
    assert frame["servedMSISDN"].to_list() == ["447700900123", "447700900456", "4477009001"]
    assert frame["recordOpeningTime"].to_list() == [
        "2026-11-03T14:05:00+00:00", "2026-11-03T15:00:30+00:00", "2026-12-31T23:59:59+00:00",
    ]  # fmt: skip
    assert frame["stopTime"][2] == "2027-01-01T00:00:00+00:00"
    assert frame["duration"].to_list() == [600, 3600, 1]
    assert frame["chargingID"].to_list() == [1001, 1002, 4_000_000_000]
    assert frame["accessPointNameNI"].to_list() == ["internet", "ims", "m2m.example"]
    assert frame["servingNodePLMNIdentifier"].to_list() == ["234-15", "208-01", "310-260"]
    assert frame["chChSelectionMode"].to_list() == ["homeDefault", "roamingDefault", "roamingDefault"]
    assert frame["rATType"].to_list() == [6, 10, 1]
    assert frame["nodeID"].to_list() == ["pgw-lon-1"] * 3
    assert frame["servingNodeType"].to_list() == [["gTPSGW"]] * 3
    assert frame["servedPDPPDNAddress"][0].startswith("100.")
    assert frame["p-GWAddress"][0].startswith("10.100.")
    assert frame["listOfServiceData"].list.len().to_list() == [1, 2, 1]
    assert volumes(frame, "datavolumeFBCUplink") == [1_000, 5_000_001, 0]
    assert volumes(frame, "datavolumeFBCDownlink") == [20_000, 70_000_000_000, 7]
    containers = frame["listOfServiceData"][1].to_list()
    assert [c["timeOfFirstUsage"] for c in containers] == ["2026-11-03T15:00:30+00:00", "2026-11-03T15:30:30+00:00"]
    assert [c["timeUsage"] for c in containers] == [1800, 1800]


def test_output_schema_comes_from_the_asn1_types() -> None:
    schema = read(pgw_cdr_bytes(sessions(), node="pgw", file_header=False), STANDARD).frame.schema

    assert schema["_record"] == pl.Int64 and schema["record_type"] == pl.String
    assert schema["servedIMSI"] == pl.String and schema["duration"] == pl.Int64
    assert schema["servingNodeAddress"] == pl.List(pl.String)
    assert schema["iMSsignalingContext"] == pl.Boolean  # never written: an optional field stays, all null
    container = {field.name: field.dtype for field in schema["listOfServiceData"].inner.fields}
    assert {"datavolumeFBCUplink": pl.Int64, "timeOfReport": pl.String}.items() <= container.items()


def test_file_header_describes_the_file() -> None:
    data = pgw_cdr_bytes(sessions(), node="pgw-lon-1", file_header=True, file_sequence=42)

    header = FileHeader.parse(data)

    assert (header.file_length, header.header_length) == (len(data), 54)
    assert (header.high_release, header.low_release, header.cdr_count, header.file_sequence) == (15, 15, 3, 42)
    assert header.opened == HeaderTime(11, 3, 14, 5, 0)
    assert header.last_appended == HeaderTime(1, 1, 0, 0, 0)
    assert header.node_address == read(data, STANDARD).frame["p-GWAddress"][0]
    first = CdrHeader.parse(data[54:])
    assert (first.release, first.data_format, first.ts_number, first.size) == (15, 1, 7, 5)


def test_header_bit_layouts() -> None:
    # month 4 bits, day 5, hour 5, minute 6, sign (1: ahead of UTC), offset hours 5, offset minutes 6
    bits = "1011" + "00011" + "01110" + "000101" + "1" + "00001" + "011110"
    assert HeaderTime(11, 3, 14, 5, 90).encode() == int(bits, 2).to_bytes(4)
    assert HeaderTime.parse(HeaderTime(2, 28, 23, 59, -330).encode()) == HeaderTime(2, 28, 23, 59, -330)
    # length, release 7 (Rel-10+) | version, data record format (BER) | TS number, release extension
    assert CdrHeader(200, 15, 2).encode() == bytes([0, 200, 0b111_00010, 0b001_00111, 5])
    assert CdrHeader.parse(bytes([1, 0, 0b110_00001, 0b001_00111])) == CdrHeader(256, 9, 1)  # a Rel-9 header


@pytest.mark.parametrize("file_header", [True, False])
def test_a_broken_record_is_one_bad_record(file_header: bool) -> None:
    data = pgw_cdr_bytes(sessions(broken=[False, True, False]), node="pgw", file_header=file_header)

    records = read(data, STANDARD)

    assert records.frame["_record"].to_list() == [0, 2]
    assert records.frame["chargingID"].to_list() == [1001, 4_000_000_000]
    assert records.bad["_record"].to_list() == [1]
    assert records.bad["raw"][0] == corrupt_record(1002).hex()
    assert records.bad["reason"][0] and "\n" not in records.bad["reason"][0]


@pytest.mark.parametrize("file_header", [True, False])
def test_a_truncated_tail_is_a_bad_record(file_header: bool) -> None:
    data = pgw_cdr_bytes(sessions(), node="pgw", file_header=file_header)

    records = read(data[:-30], STANDARD)

    assert records.frame["_record"].to_list() == [0, 1]
    assert records.bad["_record"].to_list()[0] == 2
    assert "truncated" in records.bad["reason"][0]


def test_a_header_announcing_more_cdrs_than_the_file_holds() -> None:
    two = pgw_cdr_bytes(sessions().head(2), node="pgw", file_header=True)
    header = dataclasses.replace(FileHeader.parse(two), cdr_count=3)

    bad = read(header.encode() + two[header.size :], STANDARD).bad

    assert bad["_record"].to_list() == [2]
    assert bad["reason"][0] == "the file header announces 3 CDRs, the file holds 2"


def test_corrupt_records_are_deterministic_and_plausible() -> None:
    assert corrupt_record(7) == corrupt_record(7) != corrupt_record(8)
    assert 150 <= len(corrupt_record(7)) <= 270 and corrupt_record(7)[:2] == b"\xbf\x4f"


def test_the_writer_is_deterministic() -> None:
    first = pgw_cdr_bytes(sessions(), node="pgw", file_header=True)
    assert pgw_cdr_bytes(sessions().clone(), node="pgw", file_header=True) == first


def test_split_finds_records_with_indefinite_lengths_and_padding() -> None:
    indefinite = bytes.fromhex("3080020105308002010600000000")
    definite = bytes.fromhex("3003020107")
    pieces = split(indefinite + b"\0\0\0" + definite + b"\xff" * 5, "none")
    assert pieces == [(indefinite, None), (definite, None)]


def test_the_file_header_option_overrides_detection() -> None:
    data = pgw_cdr_bytes(sessions(), node="pgw", file_header=True)
    assert split(data, "ts32297") == split(data, "auto")
    assert read(data, BerFormat(file_header="none")).frame.is_empty()  # a file header is no BER record


def test_an_unknown_standard_record_type_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="NoSuchRecord"):
        read(b"", BerFormat(record_type="NoSuchRecord"))


# ---- a vendor's own schema ------------------------------------------------------------------------------------------

TIME = bytes.fromhex("261103140500") + b"+" + bytes.fromhex("0100")  # 2026-11-03 14:05:00 +01:00


@functools.cache
def acme_schema() -> Any:
    return asn1tools.compile_files(str(ACME), "ber")


def acme(records: list[Any], type_name: str = "AcmeRecord") -> bytes:
    """Records encoded with the vendor's schema, one after the other."""
    return b"".join(acme_schema().encode(type_name, record) for record in records)


def acme_pgw(**fields: Any) -> dict[str, Any]:
    ip = ("iPBinaryAddress", ("iPBinV4Address", bytes([10, 1, 2, 3])))
    return {
        "recordType": 85, "servedIMSI": bytes.fromhex("32140500000010f0"), "p-GWAddress": ip, "chargingID": 77,
        "servingNodeAddress": [ip], "recordOpeningTime": TIME, "duration": 60, "causeForRecClosing": 0,
        "servedMSISDN": bytes.fromhex("914477009021f3"), "servingNodePLMNIdentifier": bytes.fromhex("32f451"),
        "listOfServiceData": [{
            "ratingGroup": 10, "serviceConditionChange": (b"\x08\x00\x00\x00", 32), "datavolumeFBCUplink": 300,
            "datavolumeFBCDownlink": 4000, "timeOfReport": TIME, "acmeApplicationName": "video",
        }],
        **fields,
    }  # fmt: skip


def test_a_vendor_schema_gives_its_own_fields_as_columns(tmp_path: Path) -> None:
    path = tmp_path / "acme.ber"
    path.write_bytes(acme([
        ("pGWRecord", acme_pgw(acmeSubscriberTier="gold", acmeCellId=12345, acmeHandsetModel="Phone 9 ✓",
                               acmeZeroRated=True, acmeCounters=[{"counterName": "dpi.video", "counterValue": 9}])),
        ("acmeEventRecord", {"servedIMSI": bytes.fromhex("3214050000001000"), "eventTime": TIME, "acmeEventCode": 4}),
        ("pGWRecord", acme_pgw()),
    ]))  # fmt: skip

    records = read(path, BerFormat(asn_schema=str(ACME), record_type="AcmeRecord"))

    assert records.bad.is_empty()
    frame = records.frame
    assert frame["record_type"].to_list() == ["pGWRecord", "acmeEventRecord", "pGWRecord"]
    assert frame["servedIMSI"].to_list() == ["234150000000010", "2341500000000100", "234150000000010"]
    assert frame["servedMSISDN"].to_list() == ["44770009123", None, "44770009123"]
    assert frame["recordOpeningTime"][0] == "2026-11-03T14:05:00+01:00"
    assert frame["eventTime"][1] == "2026-11-03T14:05:00+01:00"
    assert frame["p-GWAddress"][0] == "10.1.2.3"
    assert frame["servingNodePLMNIdentifier"][0] == "234-15"
    assert frame["acmeSubscriberTier"].to_list() == ["gold", None, None]
    assert frame["acmeCellId"][0] == 12345 and frame["acmeHandsetModel"][0] == "Phone 9 ✓"
    assert frame["acmeZeroRated"].to_list() == [True, None, None]
    assert frame["acmeCounters"][0].to_list() == [{"counterName": "dpi.video", "counterValue": 9}]
    assert frame["acmeEventCode"].to_list() == [None, 4, None]
    service = frame["listOfServiceData"][0].to_list()[0]
    assert service["acmeApplicationName"] == "video" and service["datavolumeFBCDownlink"] == 4000
    assert service["serviceConditionChange"] == "00001" + "0" * 27


def test_a_vendor_root_type_that_is_not_a_choice() -> None:
    data = acme([acme_pgw(), acme_pgw(chargingID=78)], type_name="AcmePGWRecord")

    frame = read(data, BerFormat(asn_schema=str(ACME), record_type="AcmePGWRecord")).frame

    assert frame["record_type"].to_list() == ["AcmePGWRecord"] * 2
    assert frame["chargingID"].to_list() == [77, 78]


def test_a_vendor_record_that_does_not_decode_is_a_bad_record() -> None:
    good = acme([("pGWRecord", acme_pgw())])
    records = read(good + corrupt_record(1) + good, BerFormat(asn_schema=str(ACME), record_type="AcmeRecord"))
    assert records.frame["_record"].to_list() == [0, 2]
    assert records.bad["_record"].to_list() == [1]


def test_a_changed_vendor_schema_is_compiled_again(tmp_path: Path) -> None:
    schema = tmp_path / "acme.asn"
    shutil.copy(ACME, schema)
    fmt = BerFormat(asn_schema=str(schema), record_type="AcmeRecord")
    data = acme([("pGWRecord", acme_pgw(acmeCellId=5))])
    assert read(data, fmt).frame["acmeCellId"][0] == 5

    schema.write_text(schema.read_text().replace("acmeCellId", "acmeSectorId"))
    os.utime(schema, ns=(0, schema.stat().st_mtime_ns + 10**9))

    assert read(data, fmt).frame["acmeSectorId"][0] == 5


def test_a_missing_vendor_schema_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="asn_schema"):
        read(b"", BerFormat(asn_schema=str(tmp_path / "nowhere.asn"), record_type="AcmeRecord"))


# ---- any sessions round-trip ----------------------------------------------------------------------------------------

plmns = st.builds(lambda mcc, mnc: f"{mcc}-{mnc}", st.from_regex(r"[0-9]{3}", fullmatch=True),
                  st.from_regex(r"[0-9]{2,3}", fullmatch=True))  # fmt: skip
session_rows = st.fixed_dictionaries({
    "imsi": st.from_regex(r"[0-9]{6,15}", fullmatch=True),
    "msisdn": st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True),
    "start": st.datetimes(datetime(2000, 1, 1), datetime(2098, 12, 31)),
    "duration_s": st.integers(0, 10**6),
    "uplink_bytes": st.integers(0, 1 << 62),
    "downlink_bytes": st.integers(0, 1 << 62),
    "apn": st.from_regex(r"[a-z0-9][a-z0-9.\-]{0,62}", fullmatch=True),
    "serving_plmn": plmns,
    "rat_type": st.integers(0, 255),
})  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(session_rows, min_size=1, max_size=5), file_header=st.booleans(), first_id=st.integers(0, 1 << 31))
def test_any_sessions_round_trip(rows: list[dict[str, Any]], file_header: bool, first_id: int) -> None:
    given_sessions = pl.DataFrame(
        [{"charging_id": first_id + n, **row} for n, row in enumerate(rows)], schema=SESSION_SCHEMA, orient="row"
    )

    records = read(pgw_cdr_bytes(given_sessions, node="pgw", file_header=file_header), STANDARD)

    assert records.bad.is_empty()
    frame = records.frame
    starts = [row["start"].replace(microsecond=0) for row in rows]
    stops = [start + timedelta(seconds=row["duration_s"]) for start, row in zip(starts, rows, strict=True)]
    assert frame["chargingID"].to_list() == given_sessions["charging_id"].to_list()
    assert frame["servedIMSI"].to_list() == [row["imsi"] for row in rows]
    assert frame["servedMSISDN"].to_list() == [row["msisdn"] for row in rows]
    assert frame["recordOpeningTime"].to_list() == [f"{s.isoformat()}+00:00" for s in starts]
    assert frame["stopTime"].to_list() == [f"{s.isoformat()}+00:00" for s in stops]
    assert frame["duration"].to_list() == [row["duration_s"] for row in rows]
    assert volumes(frame, "datavolumeFBCUplink") == [row["uplink_bytes"] for row in rows]
    assert volumes(frame, "datavolumeFBCDownlink") == [row["downlink_bytes"] for row in rows]
    assert frame["accessPointNameNI"].to_list() == [row["apn"] for row in rows]
    assert frame["servingNodePLMNIdentifier"].to_list() == [row["serving_plmn"] for row in rows]
    assert frame["rATType"].to_list() == [row["rat_type"] for row in rows]


def test_start_times_in_another_zone_are_written_in_utc() -> None:
    local = sessions().with_columns(pl.col("start").dt.convert_time_zone("America/New_York"))
    data = pgw_cdr_bytes(local, node="pgw", file_header=False)
    assert read(data, STANDARD).frame["recordOpeningTime"][0] == "2026-11-03T14:05:00+00:00"
