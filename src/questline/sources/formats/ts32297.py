"""TS 32.297 CDR files: the file header, the header in front of each CDR, and splitting a file into its records (with
those headers, or as concatenated BER TLVs)."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

Piece = tuple[bytes, str | None]  # a record's bytes, and why it cannot be decoded (None: it can)

# ---- TS 32.297 headers -----------------------------------------------------------------------------------------------

BER = 1  # data record format in a CDR header: 1 BER, 2 unaligned PER, 3 aligned PER, 4 XER
_RELEASES = (99, 4, 5, 6, 7, 8, 9)  # release identifier 0..6; 7 means Rel-10 or later, given by an extension octet


def _release(identifier: int, data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A release identifier, with its extension octet at `pos` when it has one; and the position after it."""
    if identifier < 7:
        return _RELEASES[identifier], pos
    return (10 + data[pos], pos + 1) if pos < end else (10, pos)


def _release_octets(release: int, version: int) -> tuple[int, bytes]:
    """The release/version octet, and the extension octet for Rel-10 and later."""
    if release >= 10 and release != 99:
        return 7 << 5 | version, bytes([release - 10])
    return _RELEASES.index(release) << 5 | version, b""


@dataclass(frozen=True)
class HeaderTime:
    """A file header timestamp: month, day, hour and minute, with the offset from UTC in minutes (no year)."""

    month: int
    day: int
    hour: int
    minute: int
    utc_offset: int = 0

    @classmethod
    def of(cls, moment: datetime) -> HeaderTime:
        offset = moment.utcoffset()
        minutes = int(offset.total_seconds()) // 60 if offset else 0
        return cls(moment.month, moment.day, moment.hour, moment.minute, minutes)

    @classmethod
    def parse(cls, raw: bytes) -> HeaderTime:
        bits = int.from_bytes(raw)
        offset = (bits >> 6 & 0x1F) * 60 + (bits & 0x3F)
        sign = 1 if bits >> 11 & 1 else -1  # bit set: ahead of UTC
        return cls(bits >> 28, bits >> 23 & 0x1F, bits >> 18 & 0x1F, bits >> 12 & 0x3F, sign * offset)

    def encode(self) -> bytes:
        hours, minutes = divmod(abs(self.utc_offset), 60)
        ahead = 1 if self.utc_offset >= 0 else 0
        fields = self.month << 28 | self.day << 23 | self.hour << 18 | self.minute << 12
        return (fields | ahead << 11 | hours << 6 | minutes).to_bytes(4)


@dataclass(frozen=True)
class FileHeader:
    """The TS 32.297 CDR file header. `header_length` is as read; `encode()` writes the length of what it encodes."""

    MIN_SIZE = 52  # without routeing filter, private extension and release extensions

    file_length: int
    high_release: int
    high_version: int
    low_release: int
    low_version: int
    opened: HeaderTime
    last_appended: HeaderTime
    cdr_count: int
    file_sequence: int
    closure_reason: int = 0  # 0 normal, 1 size limit, 2 time limit, 3 CDR count limit, 4 manual, 5 format change...
    node_address: str = "0.0.0.0"
    lost_cdr_indicator: int = 0  # the raw octet; 0: no CDR lost
    routeing_filter: bytes = b""
    private_extension: bytes = b""
    header_length: int = 0

    @property
    def size(self) -> int:
        return len(self.encode())

    @classmethod
    def parse(cls, data: bytes) -> FileHeader:
        if len(data) < cls.MIN_SIZE:
            raise ValueError(f"{len(data)} bytes, too short for a header")
        file_length, header_length, high, low = struct.unpack_from(">IIBB", data)
        if not cls.MIN_SIZE <= header_length <= len(data):
            raise ValueError(f"header length {header_length} does not fit a file of {len(data)} bytes")
        count, sequence, reason = struct.unpack_from(">IIB", data, 18)
        filter_end = 50 + struct.unpack_from(">H", data, 48)[0]
        private_end = filter_end + 2 + struct.unpack_from(">H", data, filter_end)[0]
        if private_end > header_length:
            raise ValueError("routeing filter and private extension overrun the header length")
        high_release, pos = _release(high >> 5, data, private_end, header_length)
        low_release, _ = _release(low >> 5, data, pos, header_length)
        return cls(
            file_length, high_release, high & 0x1F, low_release, low & 0x1F,
            HeaderTime.parse(data[10:14]), HeaderTime.parse(data[14:18]), count, sequence, reason,
            _node_address(data[27:47]), data[47], data[50:filter_end], data[filter_end + 2 : private_end],
            header_length,
        )  # fmt: skip

    def encode(self) -> bytes:
        high, high_ext = _release_octets(self.high_release, self.high_version)
        low, low_ext = _release_octets(self.low_release, self.low_version)
        body = b"".join((
            bytes([high, low]), self.opened.encode(), self.last_appended.encode(),
            struct.pack(">IIB", self.cdr_count, self.file_sequence, self.closure_reason),
            _node_address_octets(self.node_address), bytes([self.lost_cdr_indicator]),
            len(self.routeing_filter).to_bytes(2), self.routeing_filter,
            len(self.private_extension).to_bytes(2), self.private_extension, high_ext, low_ext,
        ))  # fmt: skip
        return struct.pack(">II", self.file_length, 8 + len(body)) + body


@dataclass(frozen=True)
class CdrHeader:
    """The header in front of each CDR: the CDR's length, release and version, encoding and charging TS."""

    length: int
    release: int
    version: int
    data_format: int = BER
    ts_number: int = 7  # the TS defining the record: 7 is TS 32.251 (packet switched domain)

    @property
    def size(self) -> int:
        return 5 if self.release >= 10 and self.release != 99 else 4

    @classmethod
    def parse(cls, data: bytes) -> CdrHeader:
        if len(data) < 4 or (data[2] >> 5 == 7 and len(data) < 5):
            raise ValueError(f"{len(data)} bytes left, too few for a CDR header")
        release, _ = _release(data[2] >> 5, data, 4, 5)
        return cls(int.from_bytes(data[:2]), release, data[2] & 0x1F, data[3] >> 5, data[3] & 0x1F)

    def encode(self) -> bytes:
        octet, extension = _release_octets(self.release, self.version)
        return struct.pack(">HBB", self.length, octet, self.data_format << 5 | self.ts_number) + extension


def _node_address(raw: bytes) -> str:
    """20 octets: an IPv6 address in the last 16, or an IPv4 address in the last 4 after 'FF' filler."""
    if raw[4:16] == b"\xff" * 12:
        return str(ipaddress.IPv4Address(raw[16:]))
    address = ipaddress.IPv6Address(raw[4:])
    return str(address.ipv4_mapped or address)


def _node_address_octets(text: str) -> bytes:
    address = ipaddress.ip_address(text)
    return address.packed.rjust(20, b"\xff")


# ---- splitting a file into records -----------------------------------------------------------------------------------


def split(data: bytes, file_header: str = "auto") -> list[Piece]:
    """The file's records in order. `file_header`: auto, ts32297 or none (concatenated BER TLVs)."""
    if file_header == "ts32297" or (file_header == "auto" and _has_file_header(data)):
        return list(_split_ts32297(data))
    return list(_split_tlvs(data))


def _has_file_header(data: bytes) -> bool:
    """A TS 32.297 file starts with its length, then a header length that leads to a plausible CDR header. Read that
    way, a bare BER record's first bytes give a header length far beyond the file, short of a multi-gigabyte file."""
    if len(data) < FileHeader.MIN_SIZE:
        return False
    header_length = int.from_bytes(data[4:8])
    if not FileHeader.MIN_SIZE <= header_length <= len(data):
        return False
    return header_length == len(data) or (
        header_length + 4 <= len(data) and 1 <= data[header_length + 3] >> 5 <= 4  # data record format 1..4
    )


def _split_ts32297(data: bytes) -> Iterator[Piece]:
    try:
        header = FileHeader.parse(data)
    except ValueError as exc:
        yield data, f"TS 32.297 file header: {exc}"
        return
    # A file length below the header's means the node never filled it in: read to the end of the file.
    end = len(data) if header.file_length < header.header_length else min(len(data), header.file_length)
    pos, count = header.header_length, 0
    while pos < end:
        count += 1
        try:
            cdr = CdrHeader.parse(data[pos:end])
        except ValueError as exc:
            yield data[pos:end], f"CDR header: {exc}"
            return
        start, pos = pos + cdr.size, pos + cdr.size + cdr.length
        if pos > end:
            yield data[start:end], f"truncated CDR: its header gives {cdr.length} bytes, {end - start} are left"
            return
        yield data[start:pos], None if cdr.data_format == BER else f"data record format {cdr.data_format} is not BER"
    if len(data) > end:
        yield data[end:], f"{len(data) - end} bytes after the file length given in the file header"
    if header.cdr_count > count:
        yield b"", f"the file header announces {header.cdr_count} CDRs, the file holds {count}"


def _split_tlvs(data: bytes) -> Iterator[Piece]:
    # Nodes pad records out to fixed-size blocks with 00 (never the start of a record) or fill the file's end with FF.
    pos, filler = 0, len(data.rstrip(b"\xff"))
    while pos < filler:
        if data[pos] == 0:
            pos += 1
            continue
        try:
            end = _tlv_end(data, pos)
        except ValueError as exc:
            yield data[pos:], str(exc)  # without a length there is no finding the next record
            return
        yield data[pos:end], None
        pos = end


def _tlv_end(data: bytes, start: int) -> int:
    """Where the BER TLV at `start` ends."""
    try:
        pos = start + 1
        if data[start] & 0x1F == 0x1F:  # high tag number: base-128 octets follow
            while data[pos] & 0x80:
                pos += 1
            pos += 1
        length, pos = data[pos], pos + 1
        if length == 0x80:  # indefinite length: nested TLVs up to an end-of-contents 00 00
            while data[pos : pos + 2] != b"\0\0":
                pos = _tlv_end(data, pos)
            length = 2
        elif length > 0x80:
            size = length & 0x7F
            length, pos = int.from_bytes(data[pos : pos + size]), pos + size
    except IndexError:
        raise ValueError(f"truncated record: {len(data) - start} bytes left, too few for its tag and length") from None
    if pos + length > len(data):
        raise ValueError(f"truncated record: its length gives {pos + length - start} bytes, {len(data) - start} left")
    return pos + length
