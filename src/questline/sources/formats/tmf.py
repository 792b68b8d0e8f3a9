"""TM Forum Open API JSON resources: TMF635 Usage, TMF654 TopupBalance, TMF629 Customer. A file holds a JSON array of
resources, one resource, or one resource per line; every shape is turned into lines and read as JSON Lines, so the
rows are shaped the same way and keep the TMF field names (`amount`, `relatedParty`, `usageCharacteristic`, `@type`),
which the mapping addresses by path. A resource that lacks a field its API requires is a bad record naming the field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson
import polars as pl

from questline.sources.formats import jsonl
from questline.sources.formats.base import RECORD, RawRecords, bad_records
from questline.sources.spec import TmfFormat

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

# The swaggers' `required` lists are thin: TMF635 Usage has none, TMF654 TopupBalance_Create has only `amount` (a
# Quantity whose `amount` and `units` are optional there), TMF629 Customer has `engagedParty` (and `name` on create).
# A resource is kept when it has what the engine needs of it: a usage's identity and time, a top-up's quantity and
# unit, a customer's identity and name. TopupBalance `id` is not required: the swagger does not, and create payloads
# lack it. Customer `engagedParty` is not required either: nothing downstream reads it.
REQUIRED: dict[str, tuple[str, ...]] = {
    "tmf635_usage": ("id", "usageDate"),
    "tmf654_topup": ("amount", "amount.amount", "amount.units"),
    "tmf629_customer": ("id", "name"),
}
# Name/value pair lists whose `value` may be any JSON type (`valueType` says which): values are kept as text, so the
# column has one type whatever the values in a file.
CHARACTERISTICS = ("characteristic", "usageCharacteristic")

_FIRST_VALUE = re.compile(rb"\s*(\S)")
_STRUCTURAL = np.isin(np.arange(256), list(b",[]{}"))  # byte -> is a JSON structural character


def read(data: Path | bytes, fmt: TmfFormat) -> RawRecords:
    text = _lines(jsonl.as_bytes(data))
    records = jsonl.read_lines(text, polars_columns=_text_values)
    frame = records.frame.with_columns(_values_as_text(records.frame.schema))
    required = REQUIRED[fmt.type]
    reason = frame.select(_violations(frame.schema, required)).to_series()
    failed = reason != ""
    if not failed.any():
        return RawRecords(frame, records.bad)
    positions = frame.filter(failed)[RECORD].to_list()
    rejected = bad_records(list(zip(positions, _raw(text, positions), reason.filter(failed), strict=True)))
    return RawRecords(_retyped(frame.filter(~failed), required), pl.concat([records.bad, rejected]).sort(RECORD))


# ---- the three file shapes as lines --------------------------------------------------------------------------------


def _lines(text: bytes) -> bytes:
    start = _FIRST_VALUE.match(text)
    if start is None:
        return text
    if start[1] == b"[":
        return _array_lines(text)
    end = text.find(b"\n", start.start(1))
    if _is_json(text[start.start(1) : end if end >= 0 else None]):
        return text  # already one resource per line
    return _one_line(text)  # one resource over several lines


def _array_lines(text: bytes) -> bytes:
    """A JSON array's elements one per line: newlines (only ever whitespace in JSON) become spaces, the top-level
    commas newlines. (polars' own JSON reader is not used: it silently turns booleans among numbers into numbers.)"""
    data = np.frombuffer(text, np.uint8)
    quotes = _string_quotes(data)
    marks = np.flatnonzero(_STRUCTURAL[data])
    marks = marks[np.searchsorted(quotes, marks) % 2 == 0]  # outside strings: after an even number of quotes
    chars = data[marks]
    depth = np.cumsum(np.select([np.isin(chars, list(b"[{")), chars == ord(",")], [1, 0], -1))
    lines = np.frombuffer(_one_line(text), np.uint8).copy()
    lines[marks[(chars == ord(",")) & (depth == 1)]] = ord("\n")
    lines[marks[0]] = ord(" ")  # the opening bracket
    if chars[-1] == ord("]") and depth[-1] == 0:  # the closing one, unless the array was cut short
        lines[marks[-1]] = ord(" ")
    return lines.tobytes()


def _string_quotes(data: np.ndarray) -> np.ndarray:
    """Positions of the quotes that open or close strings: every quote but those escaped by an odd run of
    backslashes."""
    quotes = np.flatnonzero(data == ord('"'))
    suspects = quotes[data[np.maximum(quotes - 1, 0)] == ord("\\")]
    if not suspects.size:
        return quotes
    backslashes = np.flatnonzero(data == ord("\\"))
    run_starts = backslashes[np.concatenate([[True], np.diff(backslashes) != 1])]
    run_lengths = suspects - run_starts[np.searchsorted(run_starts, suspects - 1, side="right") - 1]
    return np.setdiff1d(quotes, suspects[run_lengths % 2 == 1], assume_unique=True)


def _one_line(text: bytes) -> bytes:
    return text.replace(b"\n", b" ").replace(b"\r", b" ")


def _is_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


# ---- characteristic values as text ---------------------------------------------------------------------------------


def _text_values(schema: pl.Schema) -> dict[str, PolarsDataType]:
    """The characteristic columns with their values as text, for polars to read when their values' types clash
    (polars reads any JSON value into a String; an object or array value comes out as polars renders it)."""
    return {
        name: pl.List(pl.Struct({**fields, "value": pl.String()}))
        for name, dtype in schema.items()
        if (fields := _characteristic_fields(name, dtype))
    }


def _values_as_text(schema: pl.Schema) -> list[pl.Expr]:
    """Characteristic values as text where they were read with their own JSON type (when that was one type)."""
    exprs = []
    for name, dtype in schema.items():
        if fields := _characteristic_fields(name, dtype):
            value = _as_text(pl.field("value"), fields["value"]).alias("value")
            exprs.append(pl.col(name).list.eval(pl.element().struct.with_fields(value)))
    return exprs


def _characteristic_fields(name: str, dtype: PolarsDataType) -> dict[str, PolarsDataType]:
    """The fields of a characteristic list's elements, or nothing when the column is not one."""
    if name in CHARACTERISTICS and isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct):
        fields = dict(dtype.inner.to_schema())
        return fields if "value" in fields else {}
    return {}


def _as_text(value: pl.Expr, dtype: PolarsDataType) -> pl.Expr:
    if not isinstance(dtype, pl.Struct | pl.List | pl.Array):
        return value.cast(pl.String)
    return pl.struct(value.alias("v")).struct.json_encode().str.slice(len('{"v":')).str.head(-1)


# ---- required fields -----------------------------------------------------------------------------------------------


def _violations(schema: pl.Schema, required: tuple[str, ...]) -> pl.Expr:
    """Per resource, the required fields it lacks as a reason (empty when it has them all); a field inside a missing
    object is not named again."""
    missing = {path: _missing(schema, path) for path in required}
    reasons = [
        pl.when(missing[path] & ~missing.get(path.rpartition(".")[0], pl.lit(False))).then(
            pl.lit(f"required field {path} is missing")
        )
        for path in required
    ]
    return pl.concat_list(reasons).list.drop_nulls().list.join("; ")


def _missing(schema: pl.Schema, path: str) -> pl.Expr:
    found = _field(schema, path)
    if found is None:
        return pl.repeat(True, pl.len())
    value, dtype = found
    return value.is_null() | (value == "") if dtype == pl.String else value.is_null()


def _field(schema: pl.Schema, path: str) -> tuple[pl.Expr, PolarsDataType] | None:
    """The value at a dotted path and its type, or None when no resource has it. An object that a type clash made
    text (some resources had a scalar in its place) is searched as JSON."""
    first, *rest = path.split(".")
    if first not in schema:
        return None
    value: pl.Expr = pl.col(first)
    dtype: PolarsDataType = schema[first]
    for depth, step in enumerate(rest):
        if dtype == pl.String:
            return value.str.json_path_match("$." + ".".join(rest[depth:])), pl.String
        fields = dtype.to_schema() if isinstance(dtype, pl.Struct) else {}
        if step not in fields:
            return None
        value, dtype = value.struct.field(step), fields[step]
    return value, dtype


def _raw(text: bytes, positions: list[int]) -> list[str]:
    """The text of the resources at these positions (rare path: only for rejected resources)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return [lines[position].strip().decode(errors="replace") for position in positions]


def _retyped(frame: pl.DataFrame, required: tuple[str, ...]) -> pl.DataFrame:
    """Objects that were text because rejected resources had a scalar in their place are objects again."""
    parents = {path.split(".")[0] for path in required if "." in path}
    clashed = [name for name in parents if frame.schema.get(name) == pl.String]
    return frame.with_columns(jsonl.decode(frame[name]) for name in clashed)
