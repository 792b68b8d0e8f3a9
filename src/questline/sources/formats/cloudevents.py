"""CloudEvents 1.0 JSON files: one event, a batch (a JSON array) or JSON Lines (one event per line).

JSON Lines, the bulk case, is read by pyarrow's multi-threaded JSON reader, which fails where a careless
reader would guess: a member whose JSON type changes from line to line, a duplicate member, a malformed line.
A vectorised pre-check then flags every row that might break a rule, and only those rows go through
`validate`, which decides and gives the reason. When the strict read fails, or the frame holds something the
pre-check does not cover, the file is read line by line instead.

Columns: `_record` (the event's position: array index, or index among non-blank lines), the core attributes
and the extensions as strings (extensions in their canonical string form), `data` (a struct: the union of the
keys of every object `data`; a value whose JSON type differs between events becomes a string, the JSON text of
non-strings), `data_base64`, and `data_text` (a `data` that is not an object: a string as is, any other JSON
value as JSON text)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.json as pajson

from questline.events.envelope import (
    ABSOLUTE_URI,
    CORE_ATTRIBUTES,
    FORBIDDEN_CHARACTERS,
    INTEGER_RANGE,
    MEDIA_TYPE,
    NAME,
    REQUIRED_ATTRIBUTES,
    TIMESTAMP,
    URI_REFERENCE,
    Event,
    from_structured,
    validate,
)
from questline.kit.errors import Invalid
from questline.sources.formats.base import RECORD, RawRecords, bad_records
from questline.sources.spec import CloudEventsFormat

T = TypeVar("T")
Bad = tuple[int, str, str]  # a bad record: position, raw text, reason
DATA_COLUMNS = ("data", "data_base64", "data_text")
_MEMBERS = DATA_COLUMNS[:2]  # the JSON members that are not attributes
_EMPTY_DATA = pl.Struct({})
_ARROW_CORE = pa.schema([(name, pa.string()) for name in (*CORE_ATTRIBUTES, "data_base64")])
_ARROW_EXTENSION_TYPES = (pa.string(), pa.bool_(), pa.int64(), pa.null())
_NON_SPACE = re.compile(rb"[^ \t\r\n]")
_BLANK = (b"", b"\r")
_name = re.compile(NAME).fullmatch


def read(data: Path | bytes, fmt: CloudEventsFormat) -> RawRecords:
    raw = (data.read_bytes() if isinstance(data, Path) else data).removeprefix(b"\xef\xbb\xbf")
    layout = _layout(raw)
    if layout == "batch":
        return _read_batch(raw)
    if layout == "single":
        return _read_each([raw.strip()], from_structured, _text)
    return _read_lines(raw)


def frame_from_events(events: list[Event]) -> pl.DataFrame:
    """Validated events as the reader's columns; `_record` = position in the list."""
    return _frame(list(enumerate(events)))


def _layout(raw: bytes) -> Literal["batch", "single", "lines"]:
    """A document starting with '[' is a batch; JSON Lines if its first or last line is a JSON object on its
    own (a pretty-printed event's first and last lines are '{' and '}'); otherwise one event."""
    found = _NON_SPACE.search(raw)
    if found is None or raw.startswith(b"[", found.start()):
        return "lines" if found is None else "batch"
    start, end = found.start(), len(raw)
    while raw[end - 1] in b" \t\r\n":  # without copying the whole file as strip() would
        end -= 1
    newline = raw.find(b"\n", start, end)
    first = raw[start : newline if newline >= 0 else end]
    last = raw[raw.rfind(b"\n", start, end) + 1 : end]
    return "lines" if _is_object(first) or _is_object(last) else "single"


def _is_object(text: bytes) -> bool:
    try:
        return isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        return False


def _read_batch(raw: bytes) -> RawRecords:
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError as error:  # the array itself is broken: one record, the whole text
        return RawRecords(_frame([]), bad_records([(0, _text(raw), f"invalid JSON: {error}")]))
    return _read_each(items, validate, _json_text)


def _read_each(records: Sequence[T], check: Callable[[T], Event], raw: Callable[[T], str]) -> RawRecords:
    good, bad = _check_each(list(enumerate(records)), check, raw)
    return RawRecords(_frame(good), bad_records(bad))


def _check_each(
    records: list[tuple[int, T]], check: Callable[[T], Event], raw: Callable[[T], str]
) -> tuple[list[tuple[int, Event]], list[Bad]]:
    good: list[tuple[int, Event]] = []
    bad: list[Bad] = []
    for position, record in records:
        try:
            good.append((position, check(record)))
        except Invalid as error:
            bad.append((position, raw(record), error.message))
    return good, bad


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _json_text(item: object) -> str:
    return orjson.dumps(item).decode()


# ---- JSON Lines: strict vectorised read, per-line checks only where needed ---------------------------------


def _read_lines(raw: bytes) -> RawRecords:
    lines = raw.split(b"\n")
    frame = _strict_frame(raw, len(lines) - lines.count(b"") - lines.count(b"\r"))
    if frame is not None:  # one row per line, so the lines that are not blank are the texts
        return _checked(frame, lambda: [line.strip() for line in lines if line not in _BLANK], [])
    return _read_texts([line.strip() for line in lines if line.strip()])


def _read_texts(texts: list[bytes]) -> RawRecords:
    """After pyarrow failed: set aside the lines that are not JSON objects and give it the others again; if it
    still fails (a member's JSON type differs between lines), every line is validated on its own."""
    is_object = [_is_object(text) for text in texts]
    objects = [position for position, ok in enumerate(is_object) if ok]
    others = [(position, texts[position]) for position, ok in enumerate(is_object) if not ok]
    _, unread = _check_each(others, from_structured, _text)
    frame = _strict_frame(b"\n".join(texts[position] for position in objects), len(objects))
    if frame is None:
        good, bad = _check_each([(position, texts[position]) for position in objects], from_structured, _text)
        return RawRecords(_frame(good), bad_records(sorted(unread + bad)))
    frame = frame.with_columns(pl.Series(RECORD, objects, dtype=pl.Int64))
    return _checked(frame, lambda: texts, unread)


def _checked(frame: pl.DataFrame, texts: Callable[[], list[bytes]], bad: list[Bad]) -> RawRecords:
    """The rows the pre-check flags validated one by one (`texts` holds the lines by record position)."""
    suspects = frame.filter(_suspect(frame.schema)).get_column(RECORD).to_list()
    lines = texts() if suspects else []
    _, found = _check_each([(position, lines[position]) for position in suspects], from_structured, _text)
    rejected = [position for position, _, _ in found]
    return RawRecords(_tidy(frame.filter(~pl.col(RECORD).is_in(rejected))), bad_records(sorted(bad + found)))


def _strict_frame(raw: bytes, lines: int) -> pl.DataFrame | None:
    """The file as read by pyarrow, or None when that read cannot stand for a line-by-line one."""
    if not _is_utf8(raw):  # pyarrow copies bytes into strings unchecked
        return None
    try:
        table = _read_json(raw, _ARROW_CORE)
        untimed = pa.schema([field.with_type(_untimed(field.type)) for field in table.schema])
        if untimed != table.schema:  # pyarrow turned date-like strings into timestamps: read them as text
            table = _read_json(raw, untimed)
    except pa.ArrowInvalid:
        return None
    if table.num_rows != lines or not _plain(table):  # one row per line, or a line held two objects
        return None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.with_row_index(RECORD).with_columns(pl.col(RECORD).cast(pl.Int64))


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read_json(raw: bytes, schema: pa.Schema) -> pa.Table:
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    return pajson.read_json(io.BytesIO(raw), pajson.ReadOptions(block_size=8 << 20), options)


def _untimed(dtype: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(dtype):
        return pa.string()
    if pa.types.is_struct(dtype):
        return pa.struct([field.with_type(_untimed(field.type)) for field in dtype])
    if pa.types.is_list(dtype):
        return pa.list_(_untimed(dtype.value_type))
    return dtype


def _plain(table: pa.Table) -> bool:
    """What the pre-check covers: scalar extensions, object `data`, no `data_base64` (whose exclusion with
    `data` depends on presence, which a column cannot show)."""
    extensions = [field for field in table.schema if field.name not in (*CORE_ATTRIBUTES, *_MEMBERS)]
    data = table.schema.field("data").type if "data" in table.column_names else pa.struct([])
    return (
        RECORD not in table.column_names
        and all(field.type in _ARROW_EXTENSION_TYPES for field in extensions)
        and pa.types.is_struct(data)
        and table.column("data_base64").null_count == table.num_rows
    )


def _suspect(schema: pl.Schema) -> pl.Expr:
    """True where a row might break a rule; may flag valid rows (`validate` clears them), never misses one."""
    extensions = [name for name in schema if name not in (RECORD, *CORE_ATTRIBUTES, *_MEMBERS)]
    strings = [name for name, dtype in schema.items() if dtype == pl.String]
    time = pl.col("time")
    checks = [
        pl.any_horizontal(pl.col(REQUIRED_ATTRIBUTES).is_null()),
        pl.col("specversion") != "1.0",
        pl.any_horizontal(pl.col("id", "source", "type", "subject").str.len_bytes() == 0),
        ~_matches("source", URI_REFERENCE),
        ~_matches("time", TIMESTAMP) | (time.is_not_null() & _day(time).is_null()),
        ~_matches("datacontenttype", MEDIA_TYPE),
        ~_matches("dataschema", ABSOLUTE_URI),
        pl.any_horizontal(pl.col(strings).str.contains(FORBIDDEN_CHARACTERS)),
        *[pl.col(name).is_not_null() for name in extensions if not _name(name)],
        *[~pl.col(name).is_between(*INTEGER_RANGE) for name in extensions if schema[name] == pl.Int64],
        *_non_finite(pl.col("data"), schema.get("data", _EMPTY_DATA)),
    ]
    if "data" in schema:
        essence = pl.col("datacontenttype").str.split(";").list.first().str.strip_chars().str.to_lowercase()
        checks.append(pl.col("data").is_not_null() & ~essence.str.contains("[/+]json$"))
    # A null (absent) optional attribute leaves its checks null, which is no reason to suspect the row.
    return pl.any_horizontal(check.fill_null(False) for check in checks)


def _non_finite(value: pl.Expr, dtype: pl.DataType | pl.datatypes.DataTypeClass) -> list[pl.Expr]:
    """Where pyarrow read NaN or Infinity, which are not JSON (the line parser rejects them)."""
    if dtype == pl.Float64:
        return [~value.is_finite()]
    if isinstance(dtype, pl.Struct):
        return [check for f in dtype.fields for check in _non_finite(value.struct.field(f.name), f.dtype)]
    if isinstance(dtype, pl.List) and (inner := _non_finite(pl.element(), dtype.inner)):
        return [value.list.eval(pl.any_horizontal(inner)).list.any()]
    return []


def _day(time: pl.Expr) -> pl.Expr:
    """The date, null when the day does not exist in its month (the pattern allows 31 everywhere)."""
    return time.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def _matches(column: str, pattern: str) -> pl.Expr:
    return pl.col(column).str.contains(f"^(?:{pattern})$")


# ---- frames from validated events -------------------------------------------------------------------------


def _frame(events: list[tuple[int, Event]]) -> pl.DataFrame:
    records = [event for _, event in events]
    attributes = dict.fromkeys(name for event in records for name in event if name not in DATA_COLUMNS)
    payloads = [event.get("data") for event in records]
    objects = [data if isinstance(data, dict) else None for data in payloads]
    data = _json_series("data", objects)
    columns = [
        pl.Series(RECORD, [position for position, _ in events], dtype=pl.Int64),
        *[_attribute(name, records) for name in attributes],
        data if data.dtype != pl.Null else data.cast(_EMPTY_DATA),
        pl.Series("data_base64", [event.get("data_base64") for event in records], pl.String),
        pl.Series("data_text", [_data_text(payload) for payload in payloads], pl.String),
    ]
    return _tidy(pl.DataFrame(columns))


def _attribute(name: str, events: list[Event]) -> pl.Series:
    return pl.Series(name, [_canonical(event.get(name)) for event in events], pl.String)


def _canonical(value: object) -> str | None:
    """An attribute's canonical string: Booleans as true/false, Integers in decimal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def _data_text(data: object) -> str | None:
    if data is None or isinstance(data, dict):
        return None
    return data if isinstance(data, str) else _json_text(data)


def _json_series(name: str, values: list[Any]) -> pl.Series:
    dtype, mixed = _dtype(values)
    return pl.Series(name, [_fit(value, dtype) for value in values] if mixed else values, dtype=dtype)


_SCALARS: dict[type, pl.DataType] = {
    bool: pl.Boolean(),
    int: pl.Int64(),
    float: pl.Float64(),
    str: pl.String(),
}


def _dtype(values: list[Any]) -> tuple[pl.DataType, bool]:
    """The dtype holding every value, and whether some JSON types were mixed (those values must be turned
    into text). Numbers mixing integers and fractions are Float64; any other mix is String."""
    kinds = {_kind(value) for value in values if value is not None}
    if kinds == {int, float}:
        return pl.Float64(), False
    if len(kinds) != 1:
        return (pl.String(), True) if kinds else (pl.Null(), False)
    present = [value for value in values if value is not None]
    kind = kinds.pop()
    if kind is dict:
        keys = dict.fromkeys(key for value in present for key in value)
        fields = {key: _dtype([value.get(key) for value in present]) for key in keys}
        struct = pl.Struct({key: dtype for key, (dtype, _) in fields.items()})
        return struct, any(mixed for _, mixed in fields.values())
    if kind is list:
        inner, mixed = _dtype([item for value in present for item in value])
        return pl.List(inner), mixed
    return _SCALARS[kind], False


def _kind(value: object) -> type:
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return float  # beyond Int64
    return type(value)


def _fit(value: Any, dtype: pl.DataType | pl.datatypes.DataTypeClass) -> Any:
    if value is None:
        return None
    if isinstance(dtype, pl.String) and not isinstance(value, str):
        return _json_text(value)
    if isinstance(dtype, pl.Struct):
        return {field.name: _fit(value.get(field.name), field.dtype) for field in dtype.fields}
    if isinstance(dtype, pl.List):
        return [_fit(item, dtype.inner) for item in value]
    return value


def _tidy(frame: pl.DataFrame) -> pl.DataFrame:
    """The reader's column order; extensions that no kept event sets are dropped."""
    extensions = sorted(
        name
        for name in frame.columns
        if name not in (RECORD, *CORE_ATTRIBUTES, *DATA_COLUMNS)
        and _name(name)
        and frame[name].null_count() < frame.height
    )
    data = pl.col("data") if "data" in frame.columns else pl.lit(None, dtype=_EMPTY_DATA).alias("data")
    return frame.select(
        RECORD,
        *[_text_column(frame, name) for name in (*CORE_ATTRIBUTES, *extensions)],
        data,
        *[_text_column(frame, name) for name in DATA_COLUMNS[1:]],
    )


def _text_column(frame: pl.DataFrame, name: str) -> pl.Expr:
    """The column as text (a rejected member may have left an all-null one of another type), or nulls."""
    if name in frame.columns:
        return pl.col(name).cast(pl.String)
    return pl.lit(None, dtype=pl.String).alias(name)
