"""ASN.1 types as Arrow types, and decoded values as values of those types: well-known 3GPP octet strings become text
(TBCD digits, ISO 8601 timestamps, IP addresses, "mcc-mnc"), other octet strings hex."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa


@dataclass(frozen=True)
class Compiled:
    """An ASN.1 type compiled for reading: its Arrow type, and how a decoded value becomes a value of that type."""

    arrow: pa.DataType
    convert: Callable[[Any], Any]
    members: dict[str, Compiled] | None = None  # a SEQUENCE's or SET's components


class Node(Protocol):
    """A schema type as `compile_type` walks it; the reader wraps pycrate objects and asn1tools' parsed modules."""

    @property
    def keyword(self) -> str:
        """The built-in type underneath: SEQUENCE, CHOICE, INTEGER, OCTET STRING..."""

    @property
    def names(self) -> tuple[str, ...]:
        """The component's name, then the names of the types it is defined through, most specific first."""

    def members(self) -> dict[str, Node]: ...

    def item(self) -> Node: ...


# ---- compiling nodes to Arrow types and converters -------------------------------------------------------------------

_V6_WITH_PREFIX = "IPBinV6AddressWithPrefixLength"


def compile_type(node: Node, outer: frozenset[str] = frozenset()) -> Compiled:
    """`outer`: the types enclosing this one, so that a recursive type stops (as text) instead of looping."""
    types = set(node.names[1:])
    if types & outer:
        return _OTHER
    outer |= types
    if node.keyword in ("SEQUENCE", "SET"):
        if _V6_WITH_PREFIX in types:
            return Compiled(pa.string(), _v6_with_prefix)
        return _struct({name: compile_type(member, outer) for name, member in node.members().items()})
    if node.keyword in ("SEQUENCE OF", "SET OF"):
        return _list(compile_type(node.item(), outer))
    if node.keyword == "CHOICE":
        return _choice({name: compile_type(member, outer) for name, member in node.members().items()})
    if node.keyword == "OCTET STRING":
        return Compiled(pa.string(), next((_OCTETS[n] for n in reversed(node.names) if n in _OCTETS), _hex))
    if node.keyword.endswith("String"):
        return _TEXT
    return _SCALARS.get(node.keyword, _OTHER)


def _struct(members: dict[str, Compiled]) -> Compiled:
    if not members:
        return _SCALARS["NULL"]  # an empty SEQUENCE carries nothing but its presence
    converts = {name: member.convert for name, member in members.items()}

    def convert(value: dict[str, Any]) -> dict[str, Any]:
        return {name: to(v) for name, v in value.items() if (to := converts.get(name))}

    return Compiled(pa.struct([pa.field(name, m.arrow) for name, m in members.items()]), convert, members)


def _list(item: Compiled) -> Compiled:
    convert = item.convert
    return Compiled(pa.list_(item.arrow), lambda values: [convert(v) for v in values])


def _choice(alternatives: dict[str, Compiled]) -> Compiled:
    """Alternatives that are all text (the many forms of an IP address) become that text; others a struct with the
    chosen alternative set."""
    converts = {name: alternative.convert for name, alternative in alternatives.items()}
    if all(alternative.arrow == pa.string() for alternative in alternatives.values()):
        return Compiled(pa.string(), lambda value: converts[value[0]](value[1]))
    return Compiled(_struct(alternatives).arrow, lambda value: {value[0]: converts[value[0]](value[1])})


# ---- value conversions -----------------------------------------------------------------------------------------------


def _int(value: int) -> int:
    if not -(1 << 63) <= value < 1 << 63:
        raise ValueError(f"integer {value} is out of the 64-bit range")
    return value


def _bits(value: tuple[Any, int]) -> str:
    """pycrate gives (number, length), asn1tools (bytes, length); both become a string of 0s and 1s."""
    data, length = value
    number = int.from_bytes(data) >> (8 * len(data) - length) if isinstance(data, bytes | bytearray) else data
    return format(number, f"0{length}b") if length else ""


def _real(value: Any) -> float:
    """pycrate gives (mantissa, base, exponent), asn1tools a float."""
    return float(value[0] * value[1] ** value[2]) if isinstance(value, tuple) else float(value)


def _oid(value: Any) -> str:
    return value if isinstance(value, str) else ".".join(map(str, value))


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _hex(data: bytes) -> str:
    return data.hex()


_TBCD_DIGITS = "0123456789*#abc"
# octet -> its two digits, low nibble first; nibble F is the filler after an odd number of digits
_TBCD = ["".join(_TBCD_DIGITS[nibble] for nibble in (octet & 0xF, octet >> 4) if nibble != 0xF) for octet in range(256)]


def _tbcd(data: bytes) -> str:
    return "".join(map(_TBCD.__getitem__, data))


def _address(data: bytes) -> str:
    """AddressString: a type-of-number / numbering-plan octet, then TBCD digits."""
    return _tbcd(data[1:])


@functools.lru_cache(maxsize=1 << 14)  # a record repeats its timestamps, and a file's records share many
def _timestamp(data: bytes) -> str:
    """YYMMDDhhmmss in BCD, the sign as an ASCII character, then hhmm in BCD -> ISO 8601 with the offset."""
    d = data.hex()
    if len(data) != 9 or data[6] not in b"+-" or not (d[:12] + d[14:]).isdigit():
        return d
    return f"20{d[:2]}-{d[2:4]}-{d[4:6]}T{d[6:8]}:{d[8:10]}:{d[10:12]}{chr(data[6])}{d[14:16]}:{d[16:]}"


def _plmn(data: bytes) -> str:
    """MCC digit 2|1, MNC digit 3|MCC digit 3, MNC digit 2|1 (MNC digit 3 is F for two-digit MNCs)."""
    d = data.hex()
    mcc, mnc = d[1] + d[0] + d[3], d[5] + d[4] + d[2].replace("f", "")
    return f"{mcc}-{mnc}" if len(data) == 3 and (mcc + mnc).isdigit() else d


def _ip(data: bytes) -> str:
    if len(data) == 4:
        return ".".join(map(str, data))
    return str(ipaddress.IPv6Address(bytes(data))) if len(data) == 16 else data.hex()


def _v6_with_prefix(value: dict[str, Any]) -> str:
    return f"{_ip(value['iPBinV6Address'])}/{value.get('pDPAddressPrefixLength', 64)}"


_OCTETS: dict[str, Callable[[bytes], str]] = {
    "TBCD-STRING": _tbcd,
    "IMSI": _tbcd,
    "IMEI": _tbcd,
    "AddressString": _address,
    "ISDN-AddressString": _address,
    "MSISDN": _address,
    "TimeStamp": _timestamp,
    "PLMN-Id": _plmn,
    "IPBinV4Address": _ip,
    "IPBinV6Address": _ip,
    "iPBinV4Address": _ip,  # older releases declare the address types inline: only the component names tell
    "iPBinV6Address": _ip,
}
_TEXT = Compiled(pa.string(), str)
_OTHER = Compiled(pa.string(), _text)
_SCALARS = {
    "INTEGER": Compiled(pa.int64(), _int),
    "ENUMERATED": _TEXT,
    "BOOLEAN": Compiled(pa.bool_(), bool),
    "NULL": Compiled(pa.bool_(), lambda _: True),
    "REAL": Compiled(pa.float64(), _real),
    "BIT STRING": Compiled(pa.string(), _bits),
    "OBJECT IDENTIFIER": Compiled(pa.string(), _oid),
    "RELATIVE-OID": Compiled(pa.string(), _oid),
}
