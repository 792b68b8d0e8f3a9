"""CloudEvents envelope: the spec's rules, the HTTP content modes, and the mapping to normalized events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from questline.events.envelope import (
    CE_TYPE_PREFIX,
    content_mode,
    from_batch,
    from_binary,
    from_cloudevents,
    from_structured,
    to_cloudevents,
    validate,
)
from questline.events.schema import ATTRIBUTES, EVENT_SCHEMA
from questline.events.vocabulary import EVENT_TYPE_NAMES, EVENT_TYPES, unit_of
from questline.kit.errors import Invalid, UnsupportedMediaType


def event(**changes: Any) -> dict[str, Any]:
    """The JSON format's object-data example; `...` removes a member."""
    base = {
        "specversion": "1.0",
        "type": "com.example.someevent",
        "source": "/mycontext",
        "id": "C234-1234-1234",
        "time": "2018-04-05T17:31:00Z",
        "comexampleextension1": "value",
        "comexampleothervalue": 5,
        "datacontenttype": "application/json",
        "data": {"appinfoA": "abc", "appinfoB": 123, "appinfoC": True},
    }
    merged = {**base, **changes}
    return {name: value for name, value in merged.items() if value is not ...}


# ---- valid events ------------------------------------------------------------------------------------------


SPEC_EXAMPLES = [
    event(),
    event(datacontenttype="application/xml", data='<much wow="xml"/>', unsetextension=None),
    event(subject=None, data=1.5),
    event(datacontenttype=..., data="I'm just a string"),
    {
        "specversion": "1.0",
        "type": "t",
        "source": "/mycontext",
        "id": "D234",
        "data_base64": "eyAieHl6IjogMTIzIH0=",
    },
    event(
        source="https://github.com/cloudevents/spec/pull",
        subject="123",
        datacontenttype="text/xml",
        data="<x/>",
    ),
    event(source="mailto:cncf-wg-serverless@lists.cncf.io"),
    event(source="urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"),
    event(source="1-555-123-4567"),
    event(source="cloudevents/spec/pull/123"),
    event(source="//example.com:8080/a?b=c#d"),
    event(source="http://[2001:db8::1]/x"),
]


@pytest.mark.parametrize("example", SPEC_EXAMPLES)
def test_spec_examples_are_valid(example: dict[str, Any]) -> None:
    assert validate(example) == {name: value for name, value in example.items() if value is not None}


def test_null_attributes_are_unset_but_null_data_is_kept() -> None:
    assert validate(event(subject=None, time=None, data=None)) == {
        **event(time=..., data=None),
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"time": "2018-04-05t17:31:00.123456789z"},
        {"time": "2016-12-31T23:59:60+01:00"},
        {"time": "2024-02-29T00:00:00-05:30"},
        {"time": "0000-02-29T00:00:00Z"},
        {"datacontenttype": "TEXT/Plain; CharSet=utf-8", "data": "x"},
        {"datacontenttype": 'multipart/form-data; boundary="a b"', "data": "x"},
        {"datacontenttype": "application/vnd.questline+json", "data": [1, {"a": None}]},
        {"dataschema": "https://example.com/schemas/app-event.json"},
        {"dataschema": "urn:example:schema"},
        {"comexampleothervalue": 2**31 - 1, "min": -(2**31), "flag": False},
        {"id": "\U0001f600 ok"},
        # SHOULDs not enforced: names over 20 characters or starting with a digit, types without reverse DNS
        {"averyveryverylongextensionname": "x", "9lives": "x", "type": "created"},
    ],
)
def test_valid_values(changes: dict[str, Any]) -> None:
    validate(event(**changes))


def test_paired_surrogates_are_one_character() -> None:
    validate(json.loads('{"specversion": "1.0", "id": "\\uD800\\uDEAD", "source": "/s", "type": "t"}'))


# ---- every rule, with its field and message ----------------------------------------------------------------

INVALID = [
    (event(specversion=...), "specversion", "required attribute 'specversion' is missing"),
    (event(id=...), "id", "required attribute 'id' is missing"),
    (event(source=None), "source", "required attribute 'source' is missing"),
    (event(type=...), "type", "required attribute 'type' is missing"),
    (event(specversion="0.3"), "specversion", "specversion must be '1.0'"),
    (event(specversion=1.0), "specversion", "specversion must be a string"),
    (event(id=""), "id", "id must be a non-empty string"),
    (event(id=1234), "id", "id must be a string"),
    (event(type=""), "type", "type must be a non-empty string"),
    (event(subject=""), "subject", "subject must be a non-empty string"),
    (event(subject=["a"]), "subject", "subject must be a string"),
    (event(source=""), "source", "source must be a non-empty URI-reference"),
    (event(source="/my context"), "source", "source must be a non-empty URI-reference"),
    (event(source="/x%zz"), "source", "source must be a non-empty URI-reference"),
    (event(source="a#b#c"), "source", "source must be a non-empty URI-reference"),
    (event(source="http://[::1/x"), "source", "source must be a non-empty URI-reference"),
    (event(time="2018-04-05 17:31:00Z"), "time", "time must be an RFC 3339 timestamp"),
    (event(time="2018-04-05T17:31:00"), "time", "time must be an RFC 3339 timestamp"),
    (event(time="2018-02-30T17:31:00Z"), "time", "time must be an RFC 3339 timestamp"),
    (event(time="2023-02-29T00:00:00Z"), "time", "time must be an RFC 3339 timestamp"),
    (event(time="2018-04-05T24:00:00Z"), "time", "time must be an RFC 3339 timestamp"),
    (event(time="2018-04-05T17:31:00.Z"), "time", "time must be an RFC 3339 timestamp"),
    (event(time=1522949460), "time", "time must be a string"),
    (event(datacontenttype="json"), "datacontenttype", "datacontenttype must be an RFC 2046 media type"),
    (event(datacontenttype="text/plain;"), "datacontenttype", "must be an RFC 2046 media type"),
    (event(datacontenttype="text/plain; charset"), "datacontenttype", "must be an RFC 2046 media type"),
    (event(datacontenttype="text/pl ain"), "datacontenttype", "must be an RFC 2046 media type"),
    (event(dataschema="/schemas/a.json"), "dataschema", "dataschema must be an absolute URI"),
    (event(dataschema="https://e.com/s.json#/x"), "dataschema", "dataschema must be an absolute URI"),
    (event(dataschema=""), "dataschema", "dataschema must be an absolute URI"),
    (event(comExample="x"), "comExample", "attribute name 'comExample' must use only lower-case a-z"),
    (event(com_example="x"), "com_example", "attribute name 'com_example' must use only lower-case"),
    (event(**{"": "x"}), "", "attribute name '' must use only lower-case a-z and digits 0-9"),
    (event(ratio=1.5), "ratio", "extension attribute 'ratio' must be a Boolean, an Integer or a String"),
    (event(thousand=1e3), "thousand", "not a number with a fraction or exponent"),
    (event(nested={"a": 1}), "nested", "must be a Boolean, an Integer or a String, not an object"),
    (event(listed=[1]), "listed", "must be a Boolean, an Integer or a String, not an array"),
    (event(big=2**31), "big", "extension attribute 'big' is an Integer outside the signed 32-bit range"),
    (event(small=-(2**31) - 1), "small", "is an Integer outside the signed 32-bit range"),
    (event(id="a\nb"), "id", "id contains U+000A, not allowed in a String"),
    (event(comexampleextension1="\x85"), "comexampleextension1", "contains U+0085"),
    (event(subject="\ufdd0"), "subject", "subject contains U+FDD0"),
    (event(type="a\U0010fffe"), "type", "type contains U+10FFFE"),
    (event(data_base64="Zm9vYg=="), "data_base64", "data and data_base64 are mutually exclusive"),
    (event(data=None, data_base64="Zm9vYg=="), "data_base64", "data and data_base64 are mutually exclusive"),
    (event(data=..., data_base64="Zm9vYg"), "data_base64", "data_base64 must be a base64 string"),
    (event(data=..., data_base64="... base64 encoded string ..."), "data_base64", "must be a base64 string"),
    (event(data=..., data_base64=5), "data_base64", "data_base64 must be a base64 string"),
    (event(datacontenttype="application/xml"), "data", "data must be a string when datacontenttype"),
]


@pytest.mark.parametrize(("bad", "field", "message"), INVALID)
def test_rules(bad: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate(bad)
    assert caught.value.field == field
    assert message in caught.value.message
    assert caught.value.status_code == 422


def test_unpaired_surrogate_is_not_a_string() -> None:
    with pytest.raises(Invalid, match="U\\+D800"):
        validate(json.loads('{"specversion": "1.0", "id": "\\ud800", "source": "/s", "type": "t"}'))


@pytest.mark.parametrize("top", [[], "event", 5, None])
def test_top_level_must_be_an_object(top: object) -> None:
    with pytest.raises(Invalid, match="a CloudEvent must be a JSON object") as caught:
        validate(top)
    assert caught.value.field is None


# ---- HTTP content modes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "headers", "mode"),
    [
        ("application/cloudevents+json; charset=UTF-8", {}, "structured"),
        ("Application/CloudEvents+JSON", {}, "structured"),
        ("application/cloudevents-batch+json; charset=utf-8", {}, "batch"),
        ("application/json", {"ce-specversion": "1.0"}, "binary"),
        (None, {"CE-ID": "1"}, "binary"),
    ],
)
def test_content_mode(content_type: str | None, headers: dict[str, str], mode: str) -> None:
    assert content_mode(content_type, headers) == mode


@pytest.mark.parametrize(
    ("content_type", "headers"),
    [
        ("application/cloudevents+xml", {}),
        ("application/cloudevents+avro", {"ce-id": "1"}),
        ("application/cloudevents-batch+protobuf", {}),
        ("application/json", {"content-length": "2"}),
        (None, {}),
    ],
)
def test_unsupported_media_types(content_type: str | None, headers: dict[str, str]) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        content_mode(content_type, headers)
    assert caught.value.status_code == 415
    assert caught.value.field == "content-type"


def test_structured() -> None:
    assert from_structured(orjson.dumps(event())) == event()


@pytest.mark.parametrize(("body", "message"), [(b"{", "invalid JSON"), (b"[]", "must be a JSON object")])
def test_structured_errors(body: bytes, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        from_structured(body)


def test_batch_gives_each_item_its_result() -> None:
    results = from_batch(orjson.dumps([event(), event(id=""), "not an event", event(id="2")]))
    assert results[0] == event()
    assert isinstance(results[1], Invalid) and results[1].field == "id"
    assert isinstance(results[2], Invalid) and "JSON object" in results[2].message
    assert results[3] == event(id="2")
    assert from_batch(b"[]") == []


@pytest.mark.parametrize(
    ("body", "message"), [(b"[{", "invalid JSON"), (orjson.dumps(event()), "a batch must be a JSON array")]
)
def test_malformed_batch_fails_as_a_whole(body: bytes, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        from_batch(body)


BINARY_HEADERS = {
    "ce-specversion": "1.0",
    "ce-type": "com.example.someevent",
    "ce-source": "/mycontext",
    "ce-id": "B234-1234-1234",
    "ce-time": "2018-04-05T17:31:00Z",
    "ce-comexampleextension1": "value",
    "ce-comexampleothervalue": "5",
}
BINARY_ATTRIBUTES = {name[3:]: value for name, value in BINARY_HEADERS.items()}


def test_binary_json_body_becomes_data() -> None:
    body = b'{\n  "appinfoA" : "abc",\n  "appinfoB" : 123,\n  "appinfoC" : true\n}'
    headers = {**BINARY_HEADERS, "Content-Type": "application/json"}
    assert from_binary(headers, body) == {
        **BINARY_ATTRIBUTES,
        "datacontenttype": "application/json",
        "data": {"appinfoA": "abc", "appinfoB": 123, "appinfoC": True},
    }
    assert from_binary(headers, b'"I\'m just a string"')["data"] == "I'm just a string"


def test_binary_other_bodies_become_data_base64() -> None:
    xml = from_binary({**BINARY_HEADERS, "content-type": "application/xml"}, b'<much wow="xml"/>')
    assert xml["datacontenttype"] == "application/xml"
    assert xml["data_base64"] == "PG11Y2ggd293PSJ4bWwiLz4="
    untyped = from_binary(BINARY_HEADERS, b'{ "xyz": 123 }')
    assert "datacontenttype" not in untyped and untyped["data_base64"] == "eyAieHl6IjogMTIzIH0="
    assert from_binary(BINARY_HEADERS, b"") == BINARY_ATTRIBUTES


def test_binary_header_names_are_case_insensitive() -> None:
    headers = {
        "CE-SpecVersion": "1.0",
        "Ce-Type": "t",
        "cE-Source": "/s",
        "CE-ID": "1",
        "Content-TYPE": "text/x",
    }
    assert from_binary(headers, b"") == {
        "specversion": "1.0",
        "type": "t",
        "source": "/s",
        "id": "1",
        "datacontenttype": "text/x",
    }


@pytest.mark.parametrize(
    ("sent", "received"),
    [
        ("Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro \u20ac \U0001f600"),
        ("%e2%82%ac", "\u20ac"),
        ("%61bc", "abc"),  # needlessly encoded: accepted
        ('"quoted value with \\"escapes\\""', 'quoted value with "escapes"'),
        ('pre "a b" post', "pre a b post"),
        ("  padded\t", "padded"),
        ('"%25"', "%"),  # one round of percent-decoding, after unquoting
    ],
)
def test_binary_header_values(sent: str, received: str) -> None:
    assert from_binary({**BINARY_HEADERS, "ce-subject": sent}, b"")["subject"] == received


@pytest.mark.parametrize(
    ("headers", "field", "message"),
    [
        ({"ce-subject": "%C0%A0"}, "subject", "not valid UTF-8"),
        ({"ce-subject": "%ED%A0%80"}, "subject", "not valid UTF-8"),
        ({"ce-subject": "100%"}, "subject", "'%' must start a percent-encoded byte"),
        ({"ce-subject": "%zz"}, "subject", "'%' must start a percent-encoded byte"),
        ({"ce-subject": "caf\u00e9"}, "subject", "must be percent-encoded"),
        ({"ce-subject": '"open'}, "subject", "unterminated quoted string"),
        ({"ce-subject": "%0A"}, "subject", "subject contains U+000A"),
        ({"ce-datacontenttype": "application/json"}, "datacontenttype", "not ce-datacontenttype"),
        ({"ce-data": "x"}, "data", "reserved"),
        ({"CE-ID": "other"}, "id", "attribute 'id' appears more than once"),
        ({"ce-specversion": "0.3"}, "specversion", "specversion must be '1.0'"),
        ({"ce-my-extension": "x"}, "my-extension", "attribute name 'my-extension'"),
    ],
)
def test_binary_errors(headers: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        from_binary({**BINARY_HEADERS, **headers}, b"")
    assert caught.value.field == field
    assert message in caught.value.message


def test_binary_json_body_must_parse() -> None:
    with pytest.raises(Invalid, match="invalid JSON") as caught:
        from_binary({**BINARY_HEADERS, "content-type": "application/json"}, b"{nope")
    assert caught.value.field == "data"


def test_binary_missing_required_header() -> None:
    headers = {name: value for name, value in BINARY_HEADERS.items() if name != "ce-source"}
    with pytest.raises(Invalid, match="required attribute 'source' is missing"):
        from_binary(headers, b"")


# ---- normalized events <-> CloudEvents ---------------------------------------------------------------------


def normalized(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame([{name: row.get(name) for name in EVENT_SCHEMA} for row in rows], schema=EVENT_SCHEMA)


CALL = {
    "event_id": 0x00A1B2C3D4E5F607,
    "subscriber_id": "254700000001",
    "event_time": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    "source_kind": "cdr",
    "source": "msc-cdr",
    "event_type": "voice_call",
    "value": 93.0,
    "unit": "seconds",
    "direction": "out",
    "on_net": False,
    "country": "KE",
}


def test_to_cloudevents() -> None:
    assert to_cloudevents(normalized([CALL])) == [
        {
            "specversion": "1.0",
            "id": "00a1b2c3d4e5f607",
            "source": "/questline/sources/msc-cdr",
            "type": "io.questline.voice_call",
            "subject": "254700000001",
            "time": "2024-05-06T07:08:09.123456Z",
            "datacontenttype": "application/json",
            "data": {"value": 93.0, "unit": "seconds", "direction": "out", "on_net": False, "country": "KE"},
        }
    ]


def test_from_cloudevents_reads_other_offsets_as_utc() -> None:
    (cloudevent,) = to_cloudevents(normalized([CALL]))
    frame = from_cloudevents([{**cloudevent, "time": "2024-05-06T10:08:09.123456+03:00"}])
    assert frame.schema == EVENT_SCHEMA
    assert frame["event_time"].to_list() == [CALL["event_time"]]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"type": "com.example.someevent"}, "type", "type must start with 'io.questline.'"),
        ({"type": CE_TYPE_PREFIX + "teleport"}, "type", "'teleport' is not a Questline event type"),
        ({"source": "/mycontext"}, "source", "source must start with '/questline/sources/'"),
        ({"id": "A234-1234-1234"}, "id", "id must be 16 lower-case hex digits"),
        ({"subject": None}, "subject", "subject is required"),
        ({"time": None}, "time", "time is required"),
        ({"data": "93"}, "data", "data must be an object of value, unit and attributes"),
        ({"data": {"value": 1.0, "unit": "seconds", "colour": "red"}}, "data", "data.colour does not fit"),
        ({"data": {"value": True, "unit": "seconds"}}, "data", "data.value does not fit"),
        ({"data": {"value": 1.0, "unit": "parsecs"}}, "data", "data.unit does not fit"),
        ({"data": {"value": 1.0, "unit": "seconds", "on_net": "yes"}}, "data", "data.on_net does not fit"),
        (
            {"data": {"value": 1.0, "unit": "seconds", "direction": "up"}},
            "data",
            "data.direction does not fit",
        ),
        ({"time": "2024-05-06T07:08:09"}, "time", "time must be an RFC 3339 timestamp"),
    ],
)
def test_from_cloudevents_errors(changes: dict[str, Any], field: str, message: str) -> None:
    (cloudevent,) = to_cloudevents(normalized([CALL]))
    with pytest.raises(Invalid) as caught:
        from_cloudevents([cloudevent, {**cloudevent, **changes}])
    assert caught.value.field == field
    assert message in caught.value.message


TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cn")), min_size=1, max_size=12)


def attribute_values(name: str) -> st.SearchStrategy[Any]:
    if ATTRIBUTES[name] == pl.Boolean:
        return st.booleans()
    return st.sampled_from(["in", "out"]) if name == "direction" else TEXT


@st.composite
def normalized_events(draw: st.DrawFn) -> dict[str, Any]:
    event_type = draw(st.sampled_from(EVENT_TYPE_NAMES))
    return {
        "event_id": draw(st.integers(0, 2**64 - 1)),
        "subscriber_id": draw(TEXT),
        "event_time": draw(st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1), timezones=st.just(UTC))),
        "source_kind": EVENT_TYPES[event_type].kind.value,
        "source": draw(TEXT),
        "event_type": event_type,
        "value": draw(st.none() | st.floats(allow_nan=False, allow_infinity=False)),
        "unit": unit_of(event_type).value,
        **{name: draw(st.none() | attribute_values(name)) for name in ATTRIBUTES},
    }


@settings(max_examples=60, deadline=None)
@given(st.lists(normalized_events(), max_size=8))
def test_round_trip_through_json_is_identity(rows: list[dict[str, Any]]) -> None:
    frame = normalized(rows)
    wire = [orjson.loads(orjson.dumps(cloudevent)) for cloudevent in to_cloudevents(frame)]
    assert_frame_equal(from_cloudevents([validate(cloudevent) for cloudevent in wire]), frame)
