"""JSON Lines: one JSON object per line, parsed by pyarrow. Nested objects become structs and arrays lists; blank lines
are not records. A line that is not a JSON object is a bad record. A field whose JSON type differs across records
becomes text (strings as they are, other values as their JSON); inside objects and lists, each field and element is
resolved on its own."""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.json as pajson

from questline.sources.formats.base import RECORD, RawRecords, bad_records, numbered
from questline.sources.spec import JsonLinesFormat

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

# Given the schema polars infers for a file, the columns to read with polars as these types (polars reads any JSON
# value into a String), when pyarrow cannot read the file as it is.
PolarsColumns = Callable[[pl.Schema], dict[str, "PolarsDataType"]]
_STARTS_WITH_OBJECT = re.compile(rb"\s*\{")
_SPACE = np.isin(np.arange(256), list(b" \t\r\n\x0b\x0c"))  # byte -> is whitespace (as `bytes.strip` sees it)
_KINDS = {str: "string", bool: "boolean", int: "number", float: "number", dict: "object", list: "array"}


def read(data: Path | bytes, fmt: JsonLinesFormat) -> RawRecords:
    return read_lines(as_bytes(data))


def as_bytes(data: Path | bytes) -> bytes:
    text = data if isinstance(data, bytes) else data.read_bytes()
    return text.removeprefix(codecs.BOM_UTF8)


def read_lines(text: bytes, polars_columns: PolarsColumns | None = None) -> RawRecords:
    frame = _read_all(text, polars_columns)
    if frame.height and _one_object_per_line(text, frame.height):
        return RawRecords(numbered(frame))
    # Rare path: a bad line or a type clash stops pyarrow, so parse each line to find the bad ones.
    lines = [line for line in text.splitlines() if line.strip()]
    problems = [_problem(line) for line in lines]
    good = [i for i, problem in enumerate(problems) if problem is None]
    bad = [(i, lines[i].decode(errors="replace"), problem) for i, problem in enumerate(problems) if problem]
    objects = [lines[i] for i in good]
    frame = _read_all(b"\n".join(objects), polars_columns)
    if not frame.width and any(values := [orjson.loads(line) for line in objects]):
        frame = _fields(values).struct.unnest()  # a type clash
    return RawRecords(frame.insert_column(0, pl.Series(RECORD, good, dtype=pl.Int64)), bad_records(bad))


def decode(texts: pl.Series) -> pl.Series:
    """A column from JSON texts, typed as a field of JSON Lines would be."""
    return _column([None if text is None else orjson.loads(text) for text in texts.to_list()]).alias(texts.name)


def _one_object_per_line(text: bytes, rows: int) -> bool:
    """Whether the rows read are the file's non-blank lines: pyarrow reads JSON values wherever they are (a `null`
    line, two objects on a line, one spread over lines), which would shift the record positions. When every
    non-blank line starts with `{` and ends with `}`, no object is spread over lines (JSON never has `}` then `{`
    without a comma between), so as many rows as lines means one object per line."""
    data = np.frombuffer(text, np.uint8)
    breaks = np.flatnonzero(data == ord("\n"))
    starts, ends = np.concatenate([[0], breaks + 1]), np.concatenate([breaks, [len(data)]])
    first, last = _past_spaces(data, starts, ends, 1), _past_spaces(data, ends - 1, starts - 1, -1)
    filled = first < ends
    return bool(
        rows == filled.sum() and (data[first[filled]] == ord("{")).all() and (data[last[filled]] == ord("}")).all()
    )


def _past_spaces(data: np.ndarray, positions: np.ndarray, stops: np.ndarray, step: int) -> np.ndarray:
    """Each position moved by `step` until it is not on a space or reaches its stop (one pass per space skipped)."""
    positions = positions.copy()
    while (more := (positions != stops) & _SPACE[data[np.clip(positions, 0, len(data) - 1)]]).any():
        positions[more] += step
    return positions


def _problem(line: bytes) -> str | None:
    """Why a line is not a record, or None when it is a JSON object."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON: {exc}"
    if isinstance(value, dict):
        return None
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return f"not a JSON object but {kinds.get(type(value), 'a number')}"


# ---- reading a whole file at once ----------------------------------------------------------------------------------


def _read_all(text: bytes, polars_columns: PolarsColumns | None) -> pl.DataFrame:
    """Every line at once, or an empty frame when that fails."""
    frame = _read_arrow(text)
    if frame is not None:
        return frame
    if polars_columns is None:
        return pl.DataFrame()
    try:
        return _read_mixed(text, pl.scan_ndjson(text, infer_schema_length=None).collect_schema(), polars_columns)
    except pl.exceptions.PolarsError:
        return pl.DataFrame()


def _read_mixed(text: bytes, inferred: pl.Schema, polars_columns: PolarsColumns) -> pl.DataFrame:
    """The chosen columns read by polars, the others by pyarrow with the types polars inferred."""
    chosen = polars_columns(inferred)
    others = {name: dtype for name, dtype in inferred.items() if name not in chosen}
    frame = _read_arrow(text, _arrow_schema(others)) if chosen and others else None
    if frame is None:
        return pl.DataFrame()
    return frame.hstack(pl.read_ndjson(text, schema=chosen)).select(inferred.names())


def _read_arrow(text: bytes, schema: pa.Schema | None = None) -> pl.DataFrame | None:
    """pyarrow's reading with the given schema (other fields ignored) or its own, or None when it fails. pyarrow's
    JSON reader crashes the process on a file whose first line is `null`, and builds invalid arrays from lists that
    start with nulls (pyarrow 26), so it only reads files that start with an object, and what it builds is checked."""
    if not _STARTS_WITH_OBJECT.match(text):
        return None
    try:
        table = _untimed(_arrow_table(text, schema), text)
        table.validate(full=True)
    except pa.ArrowException:
        return None
    return pl.DataFrame(pl.from_arrow(table))


def _untimed(table: pa.Table, text: bytes) -> pa.Table:
    """pyarrow's inference reads timestamp-like strings as timestamps: read the columns holding them again as text."""
    plain = _arrow_schema(table.schema)
    timed = [field for field in plain if field.type != table.schema.field(field.name).type]
    again = _arrow_table(text, pa.schema(timed)) if timed else table
    for field in timed:
        table = table.set_column(table.schema.get_field_index(field.name), field, again[field.name])
    return table


def _arrow_table(text: bytes, schema: pa.Schema | None) -> pa.Table:
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore" if schema else "infer")
    return pajson.read_json(io.BytesIO(text), parse_options=options)


def _arrow_schema(schema: pa.Schema | dict[str, PolarsDataType]) -> pa.Schema:
    """A schema for pyarrow's JSON reader, which knows neither large nor view types, with timestamps as text."""
    if not isinstance(schema, pa.Schema):
        schema = pl.DataFrame(schema=schema).to_arrow().schema
    return pa.schema([field.with_type(_plain(field.type)) for field in schema])


def _plain(dtype: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_struct(dtype):
        return pa.struct([field.with_type(_plain(field.type)) for field in dtype])
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return pa.list_(dtype.value_field.with_type(_plain(dtype.value_type)))
    return dtype


# ---- resolving type clashes: parsed values, one field or list of elements at a time -------------------------------


def _column(values: list[Any]) -> pl.Series:
    """Parsed JSON values (None where absent or null) as one column. Values of one JSON type are typed as pyarrow
    types them; values of differing types become text; objects and arrays that hold differing types inside are
    resolved field by field and element by element."""
    kinds = {_KINDS.get(type(value), "number") for value in values if value is not None}
    if len(kinds) > 1:
        texts = [value if value is None or isinstance(value, str) else orjson.dumps(value).decode() for value in values]
        return pl.Series(texts, dtype=pl.String)
    if not kinds & {"object", "array"}:
        return pl.Series(values, strict=False)
    typed = _read_arrow(b"\n".join(orjson.dumps({} if value is None else {"v": value}) for value in values))
    if typed is not None:
        return typed.to_series()
    return _fields(values) if kinds == {"object"} else _elements(values)


def _fields(objects: list[dict[str, Any] | None]) -> pl.Series:
    """A struct column from parsed objects, each field read on its own."""
    keys = dict.fromkeys(chain.from_iterable(value for value in objects if value is not None))
    fields = [_column([None if value is None else value.get(key) for value in objects]).alias(key) for key in keys]
    struct = pl.DataFrame(fields).to_struct("v")
    return pl.select(pl.when(pl.Series([value is not None for value in objects])).then(struct)).to_series()


def _elements(arrays: list[list[Any] | None]) -> pl.Series:
    """A list column from parsed arrays, their elements read as one column."""
    flat = _column([element for array in arrays if array for element in array]).to_arrow()
    lengths = np.array([0 if array is None else len(array) for array in arrays], dtype=np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int64())
    mask = pa.array([array is None for array in arrays])
    return pl.Series("v", pa.LargeListArray.from_arrays(offsets, flat, mask=mask))
