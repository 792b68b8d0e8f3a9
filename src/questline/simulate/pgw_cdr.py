"""PGW charging data records as a 3GPP charging function writes them: TS 32.298 pGWRecords (the GPRSRecord CHOICE),
BER-encoded, in a file with or without TS 32.297 headers.

The records are encoded here rather than through pycrate, which encodes ~3,000 records/s: the layout is fixed, and the
tests read every field back with pycrate's standard 3GPP modules. Timestamps are written in UTC (+0000)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from questline.sources.formats.ts32297 import CdrHeader, FileHeader, HeaderTime

RELEASE, VERSION = 15, 0  # the 32.298 release the records follow, announced in the headers
PGW_RECORD = 85  # recordType of a pGWRecord
SPLIT_SECONDS = 1800  # sessions this long report their usage in two containers, split at half time
RATING_GROUP = 10
_PDP_RELEASE = bytes.fromhex("0008000000")  # serviceConditionChange: pDPContextRelease (bit 4)
_TIME_LIMIT = bytes.fromhex("0000000040")  # serviceConditionChange: timeLimit (bit 25)
_HOME_DEFAULT, _ROAMING_DEFAULT = 3, 4  # chChSelectionMode


def write_pgw_cdr_file(
    path: Path, sessions: pl.DataFrame, *, node: str, file_header: bool, file_sequence: int = 0
) -> None:
    """Write one pGWRecord per session, in the frame's order; the same sessions always give the same bytes.

    `sessions`: charging_id (unique), imsi, msisdn (international digits), start (UTC), duration_s, uplink_bytes,
    downlink_bytes, apn, serving_plmn ("mcc-mnc"; roaming when it is not the IMSI's), rat_type; and optionally
    `broken` (Boolean): those rows are written as `corrupt_record(charging_id)`, each one counted bad by a reader.
    `node` names the PGW (nodeID; its address is derived from it). With `file_header`, the file carries a TS 32.297
    file header (numbered `file_sequence`) and a CDR header before each record."""
    path.write_bytes(pgw_cdr_bytes(sessions, node=node, file_header=file_header, file_sequence=file_sequence))


def pgw_cdr_bytes(sessions: pl.DataFrame, *, node: str, file_header: bool, file_sequence: int = 0) -> bytes:
    records = list(_records(sessions, node))
    if not file_header:
        return b"".join(records)
    body = b"".join(CdrHeader(len(record), RELEASE, VERSION).encode() + record for record in records)
    start = _utc(sessions)
    times = sessions.select(opened=start.min(), appended=(start + pl.duration(seconds="duration_s")).max())
    header = FileHeader(
        file_length=0,
        high_release=RELEASE,
        high_version=VERSION,
        low_release=RELEASE,
        low_version=VERSION,
        opened=_header_time(times["opened"][0]),
        last_appended=_header_time(times["appended"][0]),
        cdr_count=len(records),
        file_sequence=file_sequence,
        node_address=_address(node),
    )
    return dataclasses.replace(header, file_length=header.size + len(body)).encode() + body


def corrupt_record(seed: int) -> bytes:
    """A pGWRecord whose contents are garbage (the same for the same seed): the record's tag and a correct length
    around 150-260 bytes whose first field claims more bytes than the record holds. No decoder can read it, yet a
    reader finds the next record after it, with or without TS 32.297 headers."""
    noise = hashlib.shake_128(seed.to_bytes(8, "big", signed=True)).digest(256)
    return _tlv(b"\xbf\x4f", b"\x80\x82\x7f\xff" + noise[: 146 + noise[0] % 111])


def _records(sessions: pl.DataFrame, node: str) -> Iterator[bytes]:
    stamp, start = "%y%m%d%H%M%S", _utc(sessions)
    columns = sessions.with_columns(
        opened=start.dt.strftime(stamp),
        middle=(start + pl.duration(seconds=pl.col("duration_s") // 2)).dt.strftime(stamp),
        closed=(start + pl.duration(seconds="duration_s")).dt.strftime(stamp),
        broken=pl.col("broken") if "broken" in sessions.columns else pl.lit(False),
    )
    node_fields = (_field(0xA4, _ipv4(_address(node))), _field(0x92, node.encode("ascii")))  # p-GWAddress, nodeID
    for number, row in enumerate(columns.iter_rows(named=True), start=1):
        yield corrupt_record(row["charging_id"]) if row["broken"] else _pgw_record(row, number, node_fields)


def _pgw_record(row: dict[str, Any], number: int, node_fields: tuple[bytes, bytes]) -> bytes:
    imsi, plmn = row["imsi"], row["serving_plmn"]
    home = imsi.startswith(plmn.replace("-", ""))
    opened, closed = _timestamp(row["opened"]), _timestamp(row["closed"])
    fields = (
        _field(0x80, _integer(PGW_RECORD)),
        _field(0x83, _tbcd(imsi)),
        node_fields[0],
        _field(0x85, _integer(row["charging_id"])),
        _serving_node(plmn),
        _field(0x87, row["apn"].encode("ascii")),
        _field(0x88, b"\xf1\x21"),  # pdpPDNType: IETF, IPv4
        _field(0xA9, _field(0xA0, _ipv4(_ue_address(row["charging_id"])))),  # servedPDPPDNAddress
        _field(0x8B, b"\xff"),  # dynamicAddressFlag
        _field(0x8D, opened),
        _field(0x8E, _integer(row["duration_s"])),
        _field(0x8F, _integer(0)),  # causeForRecClosing: normalRelease
        node_fields[1],
        _field(0x94, _integer(number)),  # localSequenceNumber
        _field(0x95, _integer(0)),  # apnSelectionMode: MS or network provided, subscription verified
        _field(0x96, b"\x91" + _tbcd(row["msisdn"])),  # international, ISDN numbering plan
        _field(0x97, b"\x08\x00"),  # chargingCharacteristics: normal
        _field(0x98, _integer(_HOME_DEFAULT if home else _ROAMING_DEFAULT)),
        _field(0x9B, _plmn(plmn)),
        _field(0x9E, _integer(row["rat_type"])),
        _field(b"\xbf\x22", b"".join(_containers(row, opened, closed))),  # listOfServiceData
        _field(b"\xbf\x23", _field(0x0A, _integer(2))),  # servingNodeType: gTPSGW
        _field(b"\x9f\x26", opened),  # startTime
        _field(b"\x9f\x27", closed),  # stopTime
    )
    return _tlv(b"\xbf\x4f", b"".join(fields))


def _containers(row: dict[str, Any], opened: bytes, closed: bytes) -> Iterator[bytes]:
    """One ChangeOfServiceCondition, or two for a long session: the first closed by the time limit at half time."""
    duration, up, down = row["duration_s"], row["uplink_bytes"], row["downlink_bytes"]
    if duration < SPLIT_SECONDS:
        yield _container(1, opened, closed, duration, up, down, _PDP_RELEASE)
        return
    middle = _timestamp(row["middle"])
    yield _container(1, opened, middle, duration // 2, up // 2, down // 2, _TIME_LIMIT)
    yield _container(2, middle, closed, duration - duration // 2, up - up // 2, down - down // 2, _PDP_RELEASE)


def _container(number: int, first: bytes, last: bytes, seconds: int, up: int, down: int, change: bytes) -> bytes:
    return _tlv(
        b"\x30",
        b"".join((
            _field(0x81, _integer(RATING_GROUP)),
            _field(0x84, _integer(number)),  # localSequenceNumber
            _field(0x85, first),  # timeOfFirstUsage
            _field(0x86, last),  # timeOfLastUsage
            _field(0x87, _integer(seconds)),  # timeUsage
            _field(0x88, change),  # serviceConditionChange: BIT STRING, no unused bits
            _field(0x8C, _integer(up)),  # datavolumeFBCUplink
            _field(0x8D, _integer(down)),  # datavolumeFBCDownlink
            _field(0x8E, last),  # timeOfReport
        )),
    )  # fmt: skip


# ---- BER and 3GPP octet strings ------------------------------------------------------------------------------------


def _field(tag: int | bytes, content: bytes) -> bytes:
    return _tlv(bytes([tag]) if isinstance(tag, int) else tag, content)


def _tlv(tag: bytes, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return tag + bytes([size]) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8)
    return tag + bytes([0x80 | len(octets)]) + octets + content


def _integer(number: int) -> bytes:
    return number.to_bytes(number.bit_length() // 8 + 1, signed=True)


def _tbcd(digits: str) -> bytes:
    padded = digits + "f" * (len(digits) % 2)
    return bytes.fromhex("".join(map(str.__add__, padded[1::2], padded[::2])))


def _plmn(text: str) -> bytes:
    mcc, mnc = text.split("-")
    return bytes.fromhex(mcc[1] + mcc[0] + (mnc[2:] or "f") + mcc[2] + mnc[1] + mnc[0])


def _timestamp(digits: str) -> bytes:
    """TimeStamp: YYMMDDhhmmss in BCD, then the offset from UTC (+0000)."""
    return bytes.fromhex(digits) + b"+\x00\x00"


def _ipv4(text: str) -> bytes:
    """An iPBinV4Address alternative of an IPAddress CHOICE."""
    return _field(0x80, bytes(map(int, text.split("."))))


@functools.cache
def _serving_node(plmn: str) -> bytes:
    """servingNodeAddress: the SGW, with an address in the serving network."""
    return _field(0xA6, _ipv4(_address(plmn, "10.200")))


def _address(name: str, network: str = "10.100") -> str:
    """A stable address in `network`/16 for a named node."""
    low, high = hashlib.blake2s(name.encode(), digest_size=2).digest()
    return f"{network}.{low}.{max(high, 1)}"


def _ue_address(charging_id: int) -> str:
    """The subscriber's address, from the carrier-grade NAT range 100.64.0.0/10."""
    number = 0x64400000 + charging_id % (1 << 22)
    return ".".join(str(octet) for octet in number.to_bytes(4))


def _utc(sessions: pl.DataFrame) -> pl.Expr:
    """`start` in UTC; a zone-less start is taken to be UTC already."""
    zoned = getattr(sessions.schema["start"], "time_zone", None) is not None
    return pl.col("start").dt.convert_time_zone("UTC") if zoned else pl.col("start")


def _header_time(moment: datetime | None) -> HeaderTime:
    return HeaderTime.of(moment or datetime(2000, 1, 1, tzinfo=UTC))
