"""JSON Lines and Parquet readers: row shapes, record positions, bad lines, type clashes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from questline.sources.formats import jsonl, parquet
from questline.sources.formats.base import RawRecords
from questline.sources.spec import JsonLinesFormat, ParquetFormat


def read_jsonl(text: str | bytes) -> RawRecords:
    return jsonl.read(text.encode() if isinstance(text, str) else text, JsonLinesFormat())


def rows(records: RawRecords) -> list[dict[str, Any]]:
    return records.frame.drop("_record").to_dicts()


# ---- JSON Lines ----------------------------------------------------------------------------------------------------


def test_nested_objects_become_structs_and_arrays_lists() -> None:
    records = read_jsonl(
        '{"msisdn": "33612345678", "cell": {"id": 17, "lac": "0x1A"}, "tags": ["4g", "volte"], "bytes": 1024}\n'
        '{"msisdn": "33687654321", "cell": {"id": 18}, "tags": [], "bytes": 2.5, "extra": true}\n'
    )
    assert dict(records.frame.schema) == {
        "_record": pl.Int64,
        "msisdn": pl.String,
        "cell": pl.Struct({"id": pl.Int64, "lac": pl.String}),
        "tags": pl.List(pl.String),
        "bytes": pl.Float64,
        "extra": pl.Boolean,
    }
    assert records.frame["_record"].to_list() == [0, 1]
    assert rows(records)[1] == {
        "msisdn": "33687654321",
        "cell": {"id": 18, "lac": None},
        "tags": [],
        "bytes": 2.5,
        "extra": True,
    }
    assert records.bad.is_empty()


def test_timestamp_like_strings_stay_text() -> None:
    records = read_jsonl('{"at": "2024-03-01T10:00:00Z", "day": {"d": "2024-03-01"}, "l": ["2024-03-01 10:00:00"]}\n')
    assert rows(records) == [{"at": "2024-03-01T10:00:00Z", "day": {"d": "2024-03-01"}, "l": ["2024-03-01 10:00:00"]}]


def test_bad_lines_are_reported_and_blank_lines_are_not_records() -> None:
    records = read_jsonl('{"a": 1}\n\n   \n{"a": 2,\n[1, 2]\nnull\n"text"\n{"a": 3}\r\n')
    assert records.frame.rows() == [(0, 1), (5, 3)]
    assert records.bad["_record"].to_list() == [1, 2, 3, 4]
    assert records.bad["raw"].to_list() == ['{"a": 2,', "[1, 2]", "null", '"text"']
    reasons = records.bad["reason"].to_list()
    assert reasons[0].startswith("invalid JSON: ")
    assert reasons[1:] == [
        "not a JSON object but an array",
        "not a JSON object but null",
        "not a JSON object but a string",
    ]


def test_each_line_is_one_record() -> None:
    records = read_jsonl('{"a": 1} {"a": 2}\n{"a":\n3}\n{"a": 4}\n')
    assert records.frame.rows() == [(3, 4)]
    assert records.bad["raw"].to_list() == ['{"a": 1} {"a": 2}', '{"a":', "3}"]


def test_a_null_line_among_objects_is_bad() -> None:
    records = read_jsonl('{"a": 1}\nnull\n{"a": 2}\n')
    assert records.frame.rows() == [(0, 1), (2, 2)]
    assert records.bad.rows() == [(1, "null", "not a JSON object but null")]


def test_inputs_that_trip_pyarrow() -> None:
    # pyarrow 26 crashes on a first line `null` and misreads lists that start with nulls
    assert read_jsonl('null\n{"a": 1}\n').frame.rows() == [(1, 1)]
    assert rows(read_jsonl('{"a": [null, 1]}\n{"a": [2]}\n{"a": [null, null]}\n')) == [
        {"a": [None, 1]},
        {"a": [2]},
        {"a": [None, None]},
    ]


def test_empty_objects_and_empty_files() -> None:
    assert read_jsonl("{}\n{}\n").frame.rows() == [(0,), (1,)]
    assert read_jsonl("").frame.columns == ["_record"]
    assert read_jsonl("\n \n").frame.is_empty()


def test_fields_whose_json_type_differs_become_text() -> None:
    records = read_jsonl(
        '{"n": 1, "b": true, "o": {"x": 1}, "s": "a"}\n'
        '{"n": "two", "b": 1, "o": [1, 2], "s": "b"}\n'
        '{"n": 3, "b": false, "o": "plain", "s": "c"}\n'
    )
    assert records.frame.schema["n"] == pl.String
    assert records.frame["n"].to_list() == ["1", "two", "3"]
    assert records.frame["b"].to_list() == ["true", "1", "false"]
    assert records.frame["o"].to_list() == ['{"x":1}', "[1,2]", "plain"]
    assert records.frame["s"].to_list() == ["a", "b", "c"]  # unclashing fields keep their type


def test_clashes_inside_objects_and_lists_are_resolved_there() -> None:
    records = read_jsonl(
        '{"pairs": [{"name": "duration", "value": 12}, {"name": "roaming", "value": true}], "cell": {"id": 1}}\n'
        '{"pairs": [{"name": "apn", "value": "internet"}, {"name": "qos", "value": {"class": 9}}], '
        '"cell": {"id": false}}\n'
        '{"pairs": [], "cell": {"lac": 7}}\n'
        '{"pairs": null}\n'
    )
    assert records.frame.schema["pairs"] == pl.List(pl.Struct({"name": pl.String, "value": pl.String}))
    assert records.frame["pairs"].to_list() == [
        [{"name": "duration", "value": "12"}, {"name": "roaming", "value": "true"}],
        [{"name": "apn", "value": "internet"}, {"name": "qos", "value": '{"class":9}'}],
        [],
        None,
    ]
    assert records.frame["cell"].to_list() == [
        {"id": "1", "lac": None},
        {"id": "false", "lac": None},
        {"id": None, "lac": 7},
        None,
    ]


def test_clashes_around_strings_with_escapes() -> None:
    records = read_jsonl(
        '{"a": {"k": "x\\\\y \\"q\\" \\t"}, "b": [["s\\\\", 1]], "c": 1}\n'
        '{"a": {"k": 2}, "b": [{"z": true}], "c": true}\n'
    )
    assert records.frame["a"].to_list() == [{"k": 'x\\y "q" \t'}, {"k": "2"}]
    assert records.frame["b"].to_list() == [['["s\\\\",1]'], ['{"z":true}']]
    assert records.frame["c"].to_list() == ["1", "true"]


def test_clashing_list_elements_become_text() -> None:
    records = read_jsonl('{"l": [1, true, "x", {"a": 1}, null]}\n{"l": [[1], 2]}\n')
    assert records.frame["l"].to_list() == [["1", "true", "x", '{"a":1}', None], ["[1]", "2"]]


def test_byte_order_mark_and_path_input(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n')
    assert jsonl.read(path, JsonLinesFormat()).frame.rows() == [(0, 1), (1, 2)]


# ---- JSON Lines properties -----------------------------------------------------------------------------------------

KINDS: dict[str, st.SearchStrategy[Any]] = {
    "int": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "text": st.text(max_size=12),
    "bool": st.booleans(),
    "ints": st.lists(st.integers(-1000, 1000), max_size=3),
    "object": st.fixed_dictionaries({"x": st.none() | st.integers(0, 9), "y": st.none() | st.text(max_size=5)}),
}
NAMES = ["msisdn", "a", "@type", "a.b", "dürée"]


@st.composite
def record_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Records whose fields each keep one JSON type (or are null or absent)."""
    kinds = {name: draw(st.sampled_from(sorted(KINDS))) for name in draw(st.lists(st.sampled_from(NAMES), unique=True))}
    record = st.fixed_dictionaries({}, optional={name: st.none() | KINDS[kind] for name, kind in kinds.items()})
    return draw(st.lists(record, min_size=1, max_size=8))


def expected(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = list(dict.fromkeys(name for record in records for name in record))
    return [{name: record.get(name) for name in names} for record in records]


def lines(records: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(record) for record in records)


@settings(max_examples=60, deadline=None)
@given(record_sets())
def test_valid_records_round_trip(records: list[dict[str, Any]]) -> None:
    result = read_jsonl(lines(records))
    assert result.bad.is_empty()
    assert result.frame["_record"].to_list() == list(range(len(records)))
    assert rows(result) == expected(records)


garbage = st.one_of(
    st.sampled_from(["{", '{"a": 1', "}", "nope", '{"a": 1} {"b": 2}', "{'a': 1}", "[1, 2", "NaN", "null"]),
    st.text(st.characters(codec="ascii", exclude_characters="\r\n{"), min_size=1, max_size=10).filter(
        lambda text: text.strip(" \t\x0b\x0c") != ""
    ),
    st.integers().map(str),
    st.lists(st.integers(), max_size=3).map(json.dumps),
)


@settings(max_examples=60, deadline=None)
@given(record_sets(), st.lists(st.tuples(st.integers(0, 8), garbage), min_size=1, max_size=4))
def test_garbage_lines_are_bad_records_at_their_position(
    records: list[dict[str, Any]], insertions: list[tuple[int, str]]
) -> None:
    file: list[tuple[bool, str]] = [(False, orjson.dumps(record).decode()) for record in records]
    for position, line in insertions:
        file.insert(position, (True, line))
    result = read_jsonl("\n".join(line for _, line in file))
    assert result.bad["_record"].to_list() == [i for i, (bad, _) in enumerate(file) if bad]
    assert result.bad["raw"].to_list() == [line for bad, line in file if bad]
    assert result.frame["_record"].to_list() == [i for i, (bad, _) in enumerate(file) if not bad]
    assert rows(result) == expected(records)


KIND = {str: "string", bool: "boolean", int: "number", float: "number", dict: "object", list: "array"}
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-9, 9)
    | st.sampled_from([1.5, "x", "", 'q"\\,]\t', "2024-03-01T10:00:00Z"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    max_leaves=6,
)


def resolved(values: list[Any]) -> list[Any]:
    """The clash rule, spelled out: one JSON type keeps its values, objects and arrays are resolved inside, and
    values of differing types become text (strings as they are, others as their JSON)."""
    kinds = {KIND[type(value)] for value in values if value is not None}
    if len(kinds) > 1:
        return [
            value if value is None or isinstance(value, str) else json.dumps(value, separators=(",", ":"))
            for value in values
        ]
    if kinds == {"object"}:
        keys = list(dict.fromkeys(key for value in values if value is not None for key in value))
        fields = {key: resolved([None if value is None else value.get(key) for value in values]) for key in keys}
        return [None if value is None else {key: fields[key][i] for key in keys} for i, value in enumerate(values)]
    if kinds == {"array"}:
        elements = iter(resolved([element for value in values if value for element in value]))
        return [None if value is None else [next(elements) for _ in value] for value in values]
    return values


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from("abcde"), json_values, max_size=4), min_size=1, max_size=6))
def test_clashing_types_follow_the_text_rule(records: list[dict[str, Any]]) -> None:
    assert rows(read_jsonl(lines(records))) == resolved(records)


# ---- Parquet -------------------------------------------------------------------------------------------------------


def test_parquet_columns_as_stored(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "msisdn": ["33612345678", "33687654321", None],
            "bytes": [10, 20, 30],
            "at": pl.Series([1, 2, 3]).cast(pl.Datetime("ms", "UTC")),
            "cell": [{"id": 1, "lac": "a"}, {"id": 2, "lac": None}, None],
            "tags": [["4g"], [], None],
        }
    )
    path = tmp_path / "usage.parquet"
    frame.write_parquet(path)
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    for source in (path, buffer.getvalue()):
        records = parquet.read(source, ParquetFormat())
        assert records.frame.columns == ["_record", *frame.columns]
        assert records.frame["_record"].to_list() == [0, 1, 2]
        assert records.frame.drop("_record").equals(frame)
        assert records.bad.is_empty()
