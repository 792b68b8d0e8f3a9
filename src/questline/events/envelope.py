"""CloudEvents 1.0 in the JSON format: validation by the spec's rules, the three HTTP content modes, and the
one-to-one mapping between normalized events and CloudEvents.

Every MUST of the spec and of the JSON format is enforced. None of the SHOULDs is enforced on input: an
attribute name starting with a digit or longer than 20 characters, a `type` without a reverse-DNS prefix or a
relative `source` still make a conformant event, and rejecting them would refuse what other implementations
may send. The events Questline produces meet those SHOULDs. One MAY is used: `data` that is not a string under
a non-JSON `datacontenttype` is rejected, as nothing could interpret it. Duplicate members are not detected:
the JSON parser keeps the last one.

The patterns below use the syntax shared by Python's `re` and the Rust regex engine behind polars, so that
file readers can run the same checks on whole columns."""

from __future__ import annotations

import base64
import calendar
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import quote, unquote

import orjson
import polars as pl

from questline.events.schema import ATTRIBUTES, EVENT_SCHEMA, event_id_hex
from questline.events.vocabulary import EVENT_TYPES
from questline.kit.errors import Invalid, UnsupportedMediaType

Event = dict[str, Any]

CORE_ATTRIBUTES = ("specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema")
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")
STRUCTURED_MEDIA_TYPE = "application/cloudevents+json"
BATCH_MEDIA_TYPE = "application/cloudevents-batch+json"
Mode = Literal["structured", "batch", "binary"]
INTEGER_RANGE = (-(2**31), 2**31 - 1)

# ---- patterns, unanchored: Python uses fullmatch, polars wraps them in ^(?:...)$ ---------------------------

NAME = "[a-z0-9]+"

_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = "!$&'()*+,;="
_PCT = "%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_QUERY = rf"(?:{_PCHAR}|[/?])*"
_HOST = (
    rf"(?:\[(?:[0-9A-Fa-f:.]+|[vV][0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+)\]"
    rf"|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*)"
)
_AUTHORITY = rf"(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?{_HOST}(?::[0-9]*)?"
_SEGMENTS = rf"(?:/{_PCHAR}*)*"
_NET_PATH = rf"//{_AUTHORITY}{_SEGMENTS}"
_ABSOLUTE_PATH = rf"/(?:{_PCHAR}+{_SEGMENTS})?"
_SCHEME = r"[A-Za-z][A-Za-z0-9+\-.]*"
_HIER_PART = rf"(?:{_NET_PATH}|{_ABSOLUTE_PATH}|{_PCHAR}+{_SEGMENTS})?"
_RELATIVE_PART = rf"(?:{_NET_PATH}|{_ABSOLUTE_PATH}|(?:[{_UNRESERVED}{_SUB_DELIMS}@]|{_PCT})+{_SEGMENTS})?"
# RFC 3986 section 4.3: an absolute URI has no fragment.
ABSOLUTE_URI = rf"{_SCHEME}:{_HIER_PART}(?:\?{_QUERY})?"
URI_REFERENCE = rf"(?:{_SCHEME}:{_HIER_PART}|{_RELATIVE_PART})(?:\?{_QUERY})?(?:#{_QUERY})?"

TIMESTAMP = (
    "[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)"
    r"(?:\.[0-9]+)?(?:[Zz]|[+\-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)

_TOKEN = r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+"  # RFC 2045: ASCII except space, controls and tspecials
_QUOTED = r'"(?:[\t\x20\x21\x23-\x5B\x5D-\x7E]|\\[\t\x20-\x7E])*"'
MEDIA_TYPE = rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))*"

BASE64 = "(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"


def _noncharacters() -> str:
    planes = "".join(rf"\U{plane:04X}FFFE\U{plane:04X}FFFF" for plane in range(17))
    return rf"\uFDD0-\uFDEF{planes}"


# Characters a String must not hold, as a class. Unpaired surrogates cannot reach polars (its strings are
# UTF-8), so only the Python form lists them.
FORBIDDEN_CHARACTERS = rf"[\x00-\x1F\x7F-\x9F{_noncharacters()}]"

_name = re.compile(NAME).fullmatch
_uri_reference = re.compile(URI_REFERENCE).fullmatch
_absolute_uri = re.compile(ABSOLUTE_URI).fullmatch
_timestamp = re.compile(TIMESTAMP).fullmatch
_media_type = re.compile(MEDIA_TYPE).fullmatch
_base64 = re.compile(BASE64).fullmatch
_forbidden = re.compile(rf"{FORBIDDEN_CHARACTERS[:-1]}\uD800-\uDFFF]").search


@lru_cache(maxsize=1024)  # a feed repeats a handful of content types
def is_json_media_type(media_type: str) -> bool:
    """JSON-formatted content: `*/json` or `*/*+json` once parameters are stripped (JSON format, 3.1.1)."""
    return media_type.split(";", 1)[0].strip().lower().endswith(("/json", "+json"))


# ---- validation --------------------------------------------------------------------------------------------


def validate(event: object) -> Event:
    """One event in the JSON format, checked. Null attributes mean unset and are dropped; `data_base64` is
    kept as is."""
    if not isinstance(event, dict):
        raise Invalid("a CloudEvent must be a JSON object")
    attributes = {name: value for name, value in event.items() if value is not None and name not in _DATA}
    for name in REQUIRED_ATTRIBUTES:
        if name not in attributes:
            raise Invalid(f"required attribute '{name}' is missing", field=name)
    for name, value in attributes.items():
        if not _name(name):
            raise Invalid(f"attribute name '{name}' must use only lower-case a-z and digits 0-9", field=name)
        _CHECKS.get(name, _extension)(name, value)
    return {**attributes, **_data_members(event)}


def _string(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string", field=name)
    if not value.isprintable() and (found := _forbidden(value)):  # printable rules out every forbidden one
        raise Invalid(f"{name} contains U+{ord(found.group()):04X}, not allowed in a String", field=name)
    return value


def _specversion(name: str, value: object) -> None:
    if _string(name, value) != "1.0":
        raise Invalid("specversion must be '1.0'", field=name)


def _non_empty(name: str, value: object) -> None:
    if not _string(name, value):
        raise Invalid(f"{name} must be a non-empty string", field=name)


def _source(name: str, value: object) -> None:
    text = _string(name, value)
    if not text or not _uri_reference(text):
        raise Invalid(f"{name} must be a non-empty URI-reference (RFC 3986, section 4.1)", field=name)


def _time(name: str, value: object) -> None:
    text = _string(name, value)
    if not _timestamp(text) or not _day_exists(int(text[:4]), int(text[5:7]), int(text[8:10])):
        raise Invalid(f"{name} must be an RFC 3339 timestamp", field=name)


def _day_exists(year: int, month: int, day: int) -> bool:
    """The pattern allows days 01-31 in every month."""
    return day <= _MONTH_DAYS[month - 1] and not (month == 2 and day == 29 and not calendar.isleap(year))


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _content_type(name: str, value: object) -> None:
    if not _media_type(_string(name, value)):
        raise Invalid(f"{name} must be an RFC 2046 media type (type/subtype;name=value)", field=name)


def _dataschema(name: str, value: object) -> None:
    if not _absolute_uri(_string(name, value)):
        raise Invalid(f"{name} must be an absolute URI (RFC 3986, section 4.3)", field=name)


def _extension(name: str, value: object) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not INTEGER_RANGE[0] <= value <= INTEGER_RANGE[1]:
            message = f"extension attribute '{name}' is an Integer outside the signed 32-bit range"
            raise Invalid(message, field=name)
        return
    if isinstance(value, str):
        _string(name, value)
        return
    kind = _JSON_KINDS.get(type(value), type(value).__name__)
    message = f"extension attribute '{name}' must be a Boolean, an Integer or a String, not {kind}"
    raise Invalid(message, field=name)


_JSON_KINDS = {float: "a number with a fraction or exponent", dict: "an object", list: "an array"}
_CHECKS = {
    "specversion": _specversion,
    "id": _non_empty,
    "source": _source,
    "type": _non_empty,
    "subject": _non_empty,
    "time": _time,
    "datacontenttype": _content_type,
    "dataschema": _dataschema,
}
_DATA = ("data", "data_base64")


def _data_members(event: Event) -> Event:
    encoded = event.get("data_base64")
    if encoded is None:  # a null data_base64 carries nothing; a null data is an explicit null payload
        if "data" in event:
            _check_data(event["data"], event.get("datacontenttype"))
            return {"data": event["data"]}
        return {}
    if "data" in event:
        raise Invalid("data and data_base64 are mutually exclusive", field="data_base64")
    if not isinstance(encoded, str) or not _base64(encoded):
        raise Invalid("data_base64 must be a base64 string (RFC 4648, section 4)", field="data_base64")
    return {"data_base64": encoded}


def _check_data(data: object, content_type: str | None) -> None:
    json_content = not content_type or is_json_media_type(content_type)
    if not json_content and data is not None and not isinstance(data, str):
        message = f"data must be a string when datacontenttype '{content_type}' is not JSON"
        raise Invalid(message, field="data")


# ---- HTTP content modes ------------------------------------------------------------------------------------


def content_mode(content_type: str | None, headers: Mapping[str, str]) -> Mode:
    """The mode the HTTP binding (3) reads from Content-Type; binary mode needs `ce-` headers."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type.startswith("application/cloudevents-batch"):
        return _exactly(media_type, BATCH_MEDIA_TYPE, "batch")
    if media_type.startswith("application/cloudevents"):
        return _exactly(media_type, STRUCTURED_MEDIA_TYPE, "structured")
    if any(name.lower().startswith("ce-") for name in headers):
        return "binary"
    raise UnsupportedMediaType(
        f"not a CloudEvent: send Content-Type {STRUCTURED_MEDIA_TYPE} or {BATCH_MEDIA_TYPE}, or ce-* headers",
        field="content-type",
    )


def _exactly(media_type: str, supported: str, mode: Mode) -> Mode:
    """The JSON event format is the only one supported."""
    if media_type != supported:
        message = f"event format '{media_type}' is not supported; use {supported}"
        raise UnsupportedMediaType(message, field="content-type")
    return mode


def from_structured(body: bytes) -> Event:
    return validate(_loads(body, field=None))


def from_batch(body: bytes) -> list[Event | Invalid]:
    """Each item validated on its own; a body that is not a JSON array fails as a whole."""
    items = _loads(body, field=None)
    if not isinstance(items, list):
        raise Invalid("a batch must be a JSON array of CloudEvents")
    return [_validated(item) for item in items]


def _validated(item: object) -> Event | Invalid:
    try:
        return validate(item)
    except Invalid as error:
        return error


def from_binary(headers: Mapping[str, str], body: bytes) -> Event:
    """Attributes from `ce-*` headers, `datacontenttype` from Content-Type, `data` from the body."""
    event: Event = {}
    content_type = None
    for header, value in headers.items():
        name = header.lower()
        if name == "content-type":
            content_type = value.strip()
        elif name.startswith("ce-"):
            _add_header_attribute(event, name[3:], value)
    if content_type:
        event["datacontenttype"] = content_type
    if body and content_type and is_json_media_type(content_type):
        event["data"] = _loads(body, field="data")
    elif body:
        event["data_base64"] = base64.b64encode(body).decode("ascii")
    return validate(event)


def _add_header_attribute(event: Event, name: str, value: str) -> None:
    if name in event:
        raise Invalid(f"attribute '{name}' appears more than once", field=name)
    if name in _DATA:
        raise Invalid(f"'{name}' is reserved and cannot be sent as a ce- header", field=name)
    if name == "datacontenttype":
        raise Invalid("binary mode gives datacontenttype as Content-Type, not ce-datacontenttype", field=name)
    event[name] = _header_value(name, value)


def _header_value(name: str, raw: str) -> str:
    """HTTP binding 3.1.3.2: undo double-quoting, then one round of percent-decoding into UTF-8."""
    text = _unquoted(name, raw.strip(" \t"))
    chunks = re.split("(%[0-9A-Fa-f]{2})", text)
    if any("%" in chunk for chunk in chunks[::2]):
        raise Invalid(f"ce-{name}: '%' must start a percent-encoded byte (%XX)", field=name)
    if any(ord(char) > 0x7E for chunk in chunks[::2] for char in chunk):
        raise Invalid(f"ce-{name}: characters outside printable ASCII must be percent-encoded", field=name)
    pieces = [bytes.fromhex(chunk[1:]) if i % 2 else chunk.encode() for i, chunk in enumerate(chunks)]
    try:
        return b"".join(pieces).decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"ce-{name}: percent-encoded bytes are not valid UTF-8", field=name) from None


def _unquoted(name: str, text: str) -> str:
    out: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped or (char not in '"\\' if quoted else char != '"'):
            out.append(char)
            escaped = False
        elif char == '"':
            quoted = not quoted
        else:
            escaped = True
    if quoted:
        raise Invalid(f"ce-{name}: unterminated quoted string", field=name)
    return "".join(out)


def _loads(body: bytes, *, field: str | None) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Invalid(f"invalid JSON: {error}", field=field) from None


# ---- normalized events <-> CloudEvents ---------------------------------------------------------------------

CE_TYPE_PREFIX = "io.questline."
SOURCE_PREFIX = "/questline/sources/"
_ALWAYS = ("value", "unit")  # in `data` even when null; attributes only when set
_PAYLOAD = (*_ALWAYS, *ATTRIBUTES)
_HEX_ID = re.compile("[0-9a-f]{16}").fullmatch


def to_cloudevents(events: pl.DataFrame) -> list[Event]:
    """One CloudEvent per normalized event; `data` holds value, unit and the attributes that are set."""
    envelope = events.select(
        "event_id",
        "source",
        pl.col("event_type").cast(pl.String),
        "subscriber_id",
        pl.col("event_time").dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
    )
    rows = zip(envelope.iter_rows(), events.select(_PAYLOAD).to_dicts(), strict=True)
    return [
        {
            "specversion": "1.0",
            "id": event_id_hex(event_id),
            "source": SOURCE_PREFIX + quote(source, safe=""),
            "type": CE_TYPE_PREFIX + event_type,
            "subject": subject,
            "time": time,
            "datacontenttype": "application/json",
            "data": {key: value for key, value in payload.items() if value is not None or key in _ALWAYS},
        }
        for (event_id, source, event_type, subject, time), payload in rows
    ]


def from_cloudevents(events: list[Event]) -> pl.DataFrame:
    """The inverse of `to_cloudevents`, for events that passed `validate`: a frame of exactly EVENT_SCHEMA."""
    rows = [_normalized(position, event) for position, event in enumerate(events)]
    frame = pl.DataFrame(rows, schema={**EVENT_SCHEMA, "event_time": pl.String()}, orient="row")
    try:
        return frame.with_columns(_utc(pl.col("event_time")))
    except pl.exceptions.PolarsError:
        raise Invalid("time must be an RFC 3339 timestamp within the datetime range", field="time") from None


def _utc(time: pl.Expr) -> pl.Expr:
    # RFC 3339 letters are only T and Z, in either case; chrono wants an explicit offset.
    iso = time.str.to_uppercase().str.replace("Z$", "+00:00")
    return iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us", time_zone="UTC")


def _normalized(position: int, event: Event) -> tuple[Any, ...]:
    event_type = _after(position, event, "type", CE_TYPE_PREFIX)
    if event_type not in EVENT_TYPES:
        raise Invalid(f"event {position}: '{event_type}' is not a Questline event type", field="type")
    if not _HEX_ID(str(event.get("id"))):
        raise Invalid(f"event {position}: id must be 16 lower-case hex digits", field="id")
    for name in ("subject", "time"):
        if not isinstance(event.get(name), str):
            raise Invalid(f"event {position}: {name} is required", field=name)
    payload = _payload(position, event.get("data"))
    source = unquote(_after(position, event, "source", SOURCE_PREFIX))
    kind = EVENT_TYPES[event_type].kind.value
    core = (int(event["id"], 16), event["subject"], event["time"], kind, source, event_type)
    return (*core, *(payload.get(key) for key in _PAYLOAD))


def _after(position: int, event: Event, name: str, prefix: str) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value.startswith(prefix):
        raise Invalid(f"event {position}: {name} must start with '{prefix}'", field=name)
    return value[len(prefix) :]


def _payload(position: int, data: object) -> Event:
    if not isinstance(data, dict):
        raise Invalid(f"event {position}: data must be an object of value, unit and attributes", field="data")
    for key, value in data.items():
        if value is not None and not _fits(key, value):
            raise Invalid(f"event {position}: data.{key} does not fit a normalized event", field="data")
    return data


def _fits(key: str, value: object) -> bool:
    dtype = EVENT_SCHEMA.get(key) if key in _PAYLOAD else None
    if dtype is None:
        return False
    if isinstance(dtype, pl.Boolean):
        return isinstance(value, bool)
    if isinstance(dtype, pl.Float64):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(dtype, pl.Enum):
        return value in dtype.categories
    return isinstance(value, str)
