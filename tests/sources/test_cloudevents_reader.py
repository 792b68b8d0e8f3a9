"""The CloudEvents file reader: one event, a batch, JSON Lines; good rows and bad records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from questline.events.envelope import validate
from questline.sources.formats import cloudevents
from questline.sources.formats.base import BAD_SCHEMA
from questline.sources.formats.cloudevents import frame_from_events, read
from questline.sources.spec import CloudEventsFormat

FMT = CloudEventsFormat()
CORE = ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"]


def app_event(number: int, **changes: Any) -> dict[str, Any]:
    """An app event as a producer would send it; `...` removes a member."""
    base = {
        "specversion": "1.0",
        "id": f"app-{number}",
        "source": "/questline/sources/selfcare-app",
        "type": "io.questline.feature_used",
        "subject": f"2547000000{number:02d}",
        "time": f"2024-03-01T08:{number:02d}:00.250Z",
        "datacontenttype": "application/json",
        "appversion": 7,
        "beta": False,
        "data": {"value": 1, "unit": "count", "feature": "topup", "screen": {"name": "home", "depth": 2}},
    }
    merged = {**base, **changes}
    return {name: value for name, value in merged.items() if value is not ...}


def jsonl(*lines: dict[str, Any] | bytes) -> bytes:
    return b"\n".join(line if isinstance(line, bytes) else orjson.dumps(line) for line in lines) + b"\n"


def test_json_lines_columns() -> None:
    records = read(jsonl(app_event(1), app_event(2, beta=..., traceparent="00-ab-cd-01")), FMT)
    frame = records.frame
    assert frame.columns == [
        "_record",
        *CORE,
        "appversion",
        "beta",
        "traceparent",
        "data",
        "data_base64",
        "data_text",
    ]
    assert all(frame.schema[name] == pl.String for name in [*CORE, "appversion", "beta", "traceparent"])
    assert frame.schema["data"] == pl.Struct(
        {
            "value": pl.Int64,
            "unit": pl.String,
            "feature": pl.String,
            "screen": pl.Struct({"name": pl.String, "depth": pl.Int64}),
        }
    )
    assert frame["_record"].to_list() == [0, 1]
    assert frame["appversion"].to_list() == ["7", "7"]  # canonical strings of Integer and Boolean
    assert frame["beta"].to_list() == ["false", None]
    assert frame["dataschema"].to_list() == [None, None]
    assert frame["data"].struct.field("screen").struct.field("depth").to_list() == [2, 2]
    assert records.bad.schema == BAD_SCHEMA and records.bad.is_empty()


SEEN = "2024-03-01T08:00:00+03:00"


def test_vectorised_and_per_event_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    events = [
        app_event(1),
        app_event(2, data={"value": 2.5, "unit": "count", "tags": ["a", "b"], "seen": SEEN}),
        app_event(3, subject=None, data={}),
        app_event(4, data=..., datacontenttype=...),
    ]
    expected = frame_from_events([validate(event) for event in events])
    monkeypatch.setattr(cloudevents, "from_structured", None)  # no line is checked one by one
    assert_frame_equal(read(jsonl(*events), FMT).frame, expected)
    assert expected.schema["data"] == pl.Struct(
        {
            "value": pl.Float64,
            "unit": pl.String,
            "feature": pl.String,
            "screen": pl.Struct({"name": pl.String, "depth": pl.Int64}),
            "tags": pl.List(pl.String),
            "seen": pl.String,  # date-like text stays as written
        }
    )


# Lines that break one rule each, in a file the vectorised path reads: its pre-check must flag exactly these.
BROKEN = [
    (app_event(9, specversion="0.3"), "specversion must be '1.0'"),
    (app_event(9, specversion=...), "required attribute 'specversion' is missing"),
    (app_event(9, id=""), "id must be a non-empty string"),
    (app_event(9, type=""), "type must be a non-empty string"),
    (app_event(9, subject=""), "subject must be a non-empty string"),
    (app_event(9, source="/self care"), "source must be a non-empty URI-reference"),
    (app_event(9, time="2024-02-30T08:00:00Z"), "time must be an RFC 3339 timestamp"),
    (app_event(9, time="2024-03-01 08:00:00"), "time must be an RFC 3339 timestamp"),
    (app_event(9, datacontenttype="application/json;"), "datacontenttype must be an RFC 2046 media type"),
    (app_event(9, datacontenttype="text/xml"), "data must be a string when datacontenttype 'text/xml'"),
    (app_event(9, dataschema="/schemas/app.json"), "dataschema must be an absolute URI"),
    (app_event(9, appversion=2**31), "extension attribute 'appversion' is an Integer outside"),
    (app_event(9, appVersion=7), "attribute name 'appVersion' must use only lower-case a-z"),
    (app_event(9, data_text="x"), "attribute name 'data_text' must use only lower-case a-z"),
    (app_event(9, id="a\u0000b"), "id contains U+0000"),
    (app_event(9, subject="\U0001fffe"), "subject contains U+1FFFE"),
    (app_event(9, appversion=..., note="\u009f"), "note contains U+009F"),
    (jsonl(app_event(9)).replace(b'"value":1', b'"value":NaN').strip(), "invalid JSON"),
    (jsonl(app_event(9)).replace(b'"depth":2', b'"depth":-Infinity').strip(), "invalid JSON"),
]


@pytest.mark.parametrize(("line", "reason"), BROKEN)
def test_pre_check_flags_each_broken_line(
    line: dict[str, Any] | bytes, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[bytes] = []
    check = cloudevents.from_structured

    def counting(body: bytes) -> dict[str, Any]:
        checked.append(body)
        return check(body)

    monkeypatch.setattr(cloudevents, "from_structured", counting)
    records = read(jsonl(app_event(1), line, app_event(2)), FMT)
    assert len(checked) == 1, "the vectorised path checks only the flagged line"
    assert records.frame["_record"].to_list() == [0, 2]
    assert records.bad["_record"].to_list() == [1]
    assert reason in records.bad["reason"][0]
    assert records.bad["raw"][0] == (line if isinstance(line, bytes) else orjson.dumps(line)).decode()


def test_lines_that_are_not_objects_leave_the_rest_vectorised(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[bytes] = []
    check = cloudevents.from_structured

    def counting(body: bytes) -> dict[str, Any]:
        checked.append(body)
        return check(body)

    monkeypatch.setattr(cloudevents, "from_structured", counting)
    cut_short = b'{"specversion": "1.0", "id": '
    data = jsonl(app_event(0), cut_short, app_event(2, id=""), b"  ", b"true", app_event(4))
    records = read(data, FMT)
    assert checked == [b'{"specversion": "1.0", "id":', b"true", orjson.dumps(app_event(2, id=""))]
    assert records.frame["_record"].to_list() == [0, 4]
    assert records.bad["_record"].to_list() == [1, 2, 3]
    assert records.bad["reason"][2] == "a CloudEvent must be a JSON object"


def test_mix_of_good_and_broken_lines() -> None:
    data = jsonl(
        app_event(0),
        b'{"specversion": "1.0", "id": ',  # cut short
        b"",
        app_event(2, id=7),  # a number where every other line has a string
        b"   ",
        app_event(3, data={"value": "1", "unit": "count", "feature": True}),
        b'{"specversion":"1.0","id":"a","source":"/s","type":"t"} {"id":"b"}',  # two objects on a line
        app_event(5, data="plain text", datacontenttype="text/plain"),
        app_event(6, data=..., data_base64="aGk="),
        b"[1, 2]",
    ).replace(b"\n", b"\r\n")
    records = read(data, FMT)
    assert records.frame["_record"].to_list() == [0, 3, 5, 6]  # blank lines are not records
    assert records.bad.rows() == [
        (1, '{"specversion": "1.0", "id":', records.bad["reason"][0]),  # raw text without surrounding space
        (2, orjson.dumps(app_event(2, id=7)).decode(), "id must be a string"),
        (4, '{"specversion":"1.0","id":"a","source":"/s","type":"t"} {"id":"b"}', records.bad["reason"][2]),
        (7, "[1, 2]", "a CloudEvent must be a JSON object"),
    ]
    assert records.bad["reason"][0].startswith("invalid JSON")
    assert records.bad["reason"][2].startswith("invalid JSON")
    data_column = records.frame["data"]
    assert data_column.struct.field("feature").to_list() == ["topup", "true", None, None]  # types differ
    assert data_column.struct.field("value").to_list() == ["1", "1", None, None]
    assert records.frame["data_text"].to_list() == [None, None, "plain text", None]
    assert records.frame["data_base64"].to_list() == [None, None, None, "aGk="]


def test_a_member_named_like_a_reader_column_is_not_taken_for_it() -> None:
    records = read(jsonl(app_event(0), app_event(1, _record=7, data_text="x")), FMT)
    assert records.frame["_record"].to_list() == [0]
    assert records.frame["data_text"].to_list() == [None]
    assert records.bad["reason"][0] == "attribute name '_record' must use only lower-case a-z and digits 0-9"


def test_invalid_utf8_line() -> None:
    records = read(jsonl(app_event(0), b'{"id": "\xff"}'), FMT)
    assert records.frame["_record"].to_list() == [0]
    assert records.bad["_record"].to_list() == [1]
    assert "invalid JSON" in records.bad["reason"][0]


def test_single_pretty_printed_event(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(app_event(1), indent=4))
    records = read(path, FMT)
    assert records.frame["id"].to_list() == ["app-1"] and records.bad.is_empty()
    broken = json.dumps(app_event(1), indent=4)[:-3]
    records = read(broken.encode(), FMT)
    assert records.frame.is_empty()
    assert records.bad.rows() == [(0, broken.strip(), records.bad["reason"][0])]


def test_batch_file() -> None:
    data = json.dumps([app_event(0), app_event(1, time="yesterday"), 42, app_event(3)], indent=2).encode()
    records = read(b"\xef\xbb\xbf" + data, FMT)
    assert records.frame["_record"].to_list() == [0, 3]
    assert records.bad.rows() == [
        (1, orjson.dumps(app_event(1, time="yesterday")).decode(), "time must be an RFC 3339 timestamp"),
        (2, "42", "a CloudEvent must be a JSON object"),
    ]


def test_malformed_batch_is_one_bad_record() -> None:
    records = read(b'[{"specversion": "1.0"},', FMT)
    assert records.frame.is_empty()
    assert records.bad.select("_record", "raw").rows() == [(0, '[{"specversion": "1.0"},')]
    assert records.bad["reason"][0].startswith("invalid JSON")


def test_empty_file() -> None:
    records = read(b"\n\n", FMT)
    assert records.frame.columns == ["_record", *CORE, "data", "data_base64", "data_text"]
    assert records.frame.is_empty() and records.bad.is_empty()


def test_frame_from_events() -> None:
    events = [
        validate(app_event(0, data={"n": 1, "deep": {"x": [1, 2]}})),
        validate(app_event(1, data={"n": "one", "deep": {"y": None}, "extra": 1.5}, beta=True)),
        validate(app_event(2, data=[1, 2], datacontenttype=...)),
    ]
    frame = frame_from_events(events)
    assert frame["_record"].to_list() == [0, 1, 2]
    assert frame.schema["data"] == pl.Struct(
        {
            "n": pl.String,
            "deep": pl.Struct({"x": pl.List(pl.Int64), "y": pl.Null}),
            "extra": pl.Float64,
        }
    )
    assert frame["data"].to_list() == [
        {"n": "1", "deep": {"x": [1, 2], "y": None}, "extra": None},
        {"n": "one", "deep": {"x": None, "y": None}, "extra": 1.5},
        None,
    ]
    assert frame["data_text"].to_list() == [None, None, "[1,2]"]
    assert frame["beta"].to_list() == ["false", "true", "false"]
    assert frame_from_events([]).columns == ["_record", *CORE, "data", "data_base64", "data_text"]
