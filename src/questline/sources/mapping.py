"""Normalize a reader's records into events with a source's declarative mapping.

A pure function, frames in and frames out: each output field is compiled once into a polars expression together with
a second expression that explains, per row, why the field could not be filled. Rows with any explanation become
rejects (the first reason wins); the others become events with a deterministic id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from questline.events.schema import (
    ATTRIBUTES,
    EVENT_SCHEMA,
    REJECT_SCHEMA,
    DirectionDtype,
    EventTypeDtype,
    SourceKindDtype,
    UnitDtype,
)
from questline.events.vocabulary import EVENT_TYPES, UNIT_CONVERSIONS
from questline.kit.errors import ConfigError, Invalid
from questline.kit.hashing import hmac_sha256, xxhash64
from questline.sources.fields import (
    input_expr,
    lookup,
    msisdn_text,
    path_expr,
    to_boolean,
    to_msisdn,
    to_number,
    to_timestamp,
)
from questline.sources.formats.base import RECORD, RawRecords
from questline.sources.spec import FieldSpec, Mapping, SourceSpec

KEY_SEPARATOR = "\x1f"
Converter = Callable[[pl.Expr, pl.DataType], pl.Expr]


@dataclass(frozen=True)
class Normalized:
    events: pl.DataFrame  # EVENT_SCHEMA
    rejects: pl.DataFrame  # REJECT_SCHEMA
    filtered: int  # records the mapping's filter left out on purpose


@dataclass(frozen=True)
class Compiled:
    value: pl.Expr
    bad: pl.Expr  # a cheap flag: the row cannot be used because of this field
    problem: pl.Expr  # the reason, as text; only ever evaluated on the flagged rows


class Plan:
    """Columns computed in stages, each stage reading the earlier ones by name, so nothing is computed twice."""

    RAW, CODED, VALUE, PROBLEM, COMBINED, REASON = range(6)

    def __init__(self) -> None:
        self.stages: list[list[pl.Expr]] = [[] for _ in range(6)]

    def add(self, stage: int, name: str, expr: pl.Expr) -> pl.Expr:
        self.stages[stage].append(expr.alias(name))
        return pl.col(name)

    def run(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        for columns in self.stages:
            if columns:
                frame = frame.with_columns(columns)
        return frame


def normalize(raw: RawRecords, spec: SourceSpec, *, location: str, zone: str, secret: str | None = None) -> Normalized:
    mapping = spec.mapping
    frame, filtered = _apply_filter(raw.frame, mapping.filter)
    schema = frame.schema
    plan = Plan()
    fields = _compile(plan, mapping, schema, zone, secret)
    fields["value"] = _value(plan, mapping, schema)
    plan.add(Plan.RAW, "event_id", _event_id(spec.name, mapping, schema, frame.columns))
    plan.add(Plan.REASON, "__bad", pl.any_horizontal(c.bad for c in fields.values()))
    staged = plan.run(frame.lazy()).collect()
    derived = {
        "source": pl.lit(spec.name),
        "source_kind": _by_event_type(_KINDS, SourceKindDtype),
        "unit": _by_event_type(_UNITS, UnitDtype),
    }
    events = (
        staged.lazy()
        .filter(~pl.col("__bad"))
        .select(
            (derived[n] if n in derived else pl.col(n) if n in staged.columns else pl.lit(None)).cast(d).alias(n)
            for n, d in EVENT_SCHEMA.items()
        )
        .collect()
    )
    bad = staged.filter(pl.col("__bad")).with_columns(pl.coalesce(c.problem for c in fields.values()).alias("__reason"))
    rejects = pl.concat(
        [
            _rejects(raw.bad.rename({RECORD: "record"}), spec.name, location),
            _rejects(
                bad.select(
                    pl.col(RECORD).alias("record"),
                    _raw_text(frame.columns).alias("raw"),
                    pl.col("__reason").alias("reason"),
                ),
                spec.name,
                location,
            ),
        ]
    )
    return Normalized(events, rejects.sort("record"), filtered)


_KINDS = [t.kind.value for t in EVENT_TYPES.values()]
_UNITS = [t.unit.value for t in EVENT_TYPES.values()]


def _by_event_type(values: list[str], dtype: pl.DataType) -> pl.Expr:
    """A property of the row's event type, looked up by the enum's index (no string round trip)."""
    index = pl.col("event_type").to_physical()
    return index.replace_strict(list(range(len(values))), values, return_dtype=dtype)


def _apply_filter(frame: pl.DataFrame, predicate: str | None) -> tuple[pl.DataFrame, int]:
    if predicate is None:
        return frame, 0
    try:
        kept = frame.filter(pl.sql_expr(predicate).fill_null(False))
    except Exception as exc:  # polars raises several types for SQL it cannot read or evaluate
        raise Invalid(f"cannot apply filter {predicate!r}: {exc}", field="mapping.filter") from None
    return kept, frame.height - kept.height


def _compile(plan: Plan, mapping: Mapping, schema: pl.Schema, zone: str, secret: str | None) -> dict[str, Compiled]:
    def timestamp(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
        return to_timestamp(expr, dtype, mapping.event_time, zone)

    compiled = {
        "subscriber_id": _field(
            plan,
            "subscriber_id",
            mapping.subscriber_id,
            schema,
            _subscriber(mapping, secret),
            "a subscriber id",
            prepare=msisdn_text if mapping.subscriber_id.msisdn else None,
        ),
        "event_time": _field(plan, "event_time", mapping.event_time, schema, timestamp, "a timestamp"),
        "event_type": _field(
            plan,
            "event_type",
            mapping.event_type,
            schema,
            lambda e, _: e.cast(pl.String).cast(EventTypeDtype, strict=False),
            "a known event type",
        ),
    }
    for name, field_spec in mapping.attributes.items():
        compiled[name] = _field(
            plan, name, field_spec, schema, _ATTRIBUTE_CONVERTERS[name], _WHAT[name], required=False
        )
    return compiled


def _subscriber(mapping: Mapping, secret: str | None) -> Converter:
    rule = mapping.subscriber_id.msisdn
    if mapping.pseudonymise and not secret:
        raise ConfigError("pseudonymise is on but QUESTLINE_PSEUDONYMISATION_KEY is not set", field="mapping")

    def convert(expr: pl.Expr, _: pl.DataType) -> pl.Expr:
        text = to_msisdn(expr, rule) if rule else expr.cast(pl.String).str.strip_chars().replace("", None)
        if mapping.pseudonymise:  # HMAC-SHA256: stable per subscriber, not reversible without the key
            return hmac_sha256(text, secret or "")
        return text

    return convert


def _field(
    plan: Plan,
    name: str,
    spec: FieldSpec,
    schema: pl.Schema,
    convert: Converter,
    what: str,
    *,
    required: bool = True,
    column: str | None = None,
    prepare: Callable[[pl.Expr], pl.Expr] | None = None,
) -> Compiled:
    """A field in four stages: raw input, code lookup (and `prepare`), converted value, a flag for bad rows."""
    column = column or name
    staged = spec.lookup is not None or prepare is not None
    prepare = prepare or (lambda e: e)
    raw_input = input_expr(spec, schema)
    coded_input = prepare(lookup(raw_input, spec))
    raw = plan.add(Plan.RAW, f"__raw_{column}", raw_input)
    coded = plan.add(Plan.CODED, f"__coded_{column}", prepare(lookup(raw, spec))) if staged else raw
    converted = convert(coded, _dtype(coded_input, schema))
    missing = f"{name}: missing ({_origin(spec)} is empty)" if required else None
    if spec.default is not None:
        fallback = convert(pl.lit(spec.default), _dtype(pl.lit(spec.default), schema))
        converted, missing = pl.when(raw.is_null()).then(fallback).otherwise(converted), None
    value = plan.add(Plan.VALUE, column, converted)
    shown = _shown(raw, _dtype(raw_input, schema))
    problem: Any = pl.when(raw.is_null()).then(pl.lit(missing, pl.String))
    if spec.lookup is not None and spec.lookup_default is None:
        known = raw.cast(pl.String).is_in(list(spec.lookup))
        problem = problem.when(~known).then(pl.format(f"{name}: unknown code '{{}}'", shown))
        problem = problem.when(coded.is_null()).then(pl.lit(missing, pl.String))  # a code mapped to null on purpose
    problem = problem.when(value.is_null()).then(pl.format(f"{name}: cannot read '{{}}' as {what}", shown))
    if required:
        bad = value.is_null()
    else:  # an absent optional input is fine; a code mapped to null on purpose too
        strict = spec.lookup is not None and spec.lookup_default is None
        known = raw.cast(pl.String).is_in(list(spec.lookup or {})) if strict else pl.lit(True)
        bad = raw.is_not_null() & (~known | (coded.is_not_null() & value.is_null()))
    return Compiled(value, plan.add(Plan.PROBLEM, f"__bad_{column}", bad), problem.otherwise(None))


def _value(plan: Plan, mapping: Mapping, schema: pl.Schema) -> Compiled:
    """One number per row: the rule of the row's event type, or the default rule; converted to the type's unit."""
    event_type = pl.col("event_type")
    rules = {t: _number_rule(plan, f"value ({t})", spec, schema, t) for t, spec in mapping.value.by_type.items()}
    default = _number_rule(plan, "value", mapping.value.default, schema, None)
    value: Any = pl.when(False).then(None)  # when/then chains, one branch per event type
    bad: Any = pl.when(False).then(False)
    problem: Any = pl.when(False).then(pl.lit(None, pl.String))
    for event_type_name, rule in rules.items():
        value = value.when(event_type == event_type_name).then(rule.value)
        bad = bad.when(event_type == event_type_name).then(rule.bad)
        problem = problem.when(event_type == event_type_name).then(rule.problem)
    misfits = _unit_misfits(mapping.value.default, set(rules))
    if misfits:
        unit = mapping.value.default.unit
        bad = bad.when(event_type.is_in(misfits)).then(True)
        problem = problem.when(event_type.is_in(misfits)).then(
            pl.format(f"value: unit '{unit}' does not fit {{}}", event_type)
        )
    return Compiled(
        plan.add(Plan.COMBINED, "value", value.otherwise(default.value)),
        plan.add(Plan.COMBINED, "__bad_value", bad.otherwise(default.bad)),
        problem.otherwise(default.problem),
    )


def _number_rule(plan: Plan, name: str, spec: FieldSpec, schema: pl.Schema, event_type: str | None) -> Compiled:
    factor = 1.0
    if spec.unit is not None:
        unit, factor = UNIT_CONVERSIONS[spec.unit]
        if event_type is not None and EVENT_TYPES[event_type].unit != unit:
            expected = EVENT_TYPES[event_type].unit.value
            raise Invalid(f"unit {spec.unit!r} does not fit {event_type} ({expected})", field=f"mapping.{name}")
    column = f"__value_{event_type or 'default'}"
    compiled = _field(plan, name, spec, schema, lambda e, _: to_number(e, factor), "a number", column=column)
    negative = compiled.value < 0
    reason = pl.coalesce(compiled.problem, pl.when(negative).then(pl.lit(f"{name}: negative")))
    return Compiled(compiled.value, compiled.bad | negative.fill_null(False), reason)


def _unit_misfits(spec: FieldSpec, covered: set[str]) -> list[str]:
    if spec.unit is None:
        return []
    unit = UNIT_CONVERSIONS[spec.unit][0]
    return [name for name, t in EVENT_TYPES.items() if name not in covered and t.unit != unit]


def _event_id(source: str, mapping: Mapping, schema: pl.Schema, columns: list[str]) -> pl.Expr:
    """xxHash64 of the source name and the record's natural key: stable across runs, machines and versions."""
    if mapping.natural_key:
        parts = [_key_text(path_expr(path, schema), schema) for path in mapping.natural_key]
    else:  # no natural key configured: the whole record is its own key
        parts = [_key_text(pl.col(c), schema) for c in columns if c != RECORD]
    key = pl.concat_str([pl.lit(source), *parts], separator=KEY_SEPARATOR)
    return xxhash64(key)


def _key_text(expr: pl.Expr, schema: pl.Schema) -> pl.Expr:
    dtype = _dtype(expr, schema)
    text = expr.struct.json_encode() if isinstance(dtype, pl.Struct | pl.List) else expr.cast(pl.String)
    return text.fill_null("")


def _raw_text(columns: list[str]) -> pl.Expr:
    """A rejected record as JSON of its input fields, so that it can be read and fixed."""
    return pl.struct([c for c in columns if c != RECORD]).struct.json_encode()


def _rejects(frame: pl.DataFrame, source: str, location: str) -> pl.DataFrame:
    return frame.select(
        pl.lit(source).alias("source"),
        pl.lit(location).alias("location"),
        pl.col("record").cast(pl.Int64),
        pl.col("raw").cast(pl.String),
        pl.col("reason").cast(pl.String),
    ).match_to_schema(REJECT_SCHEMA)


def _dtype(expr: pl.Expr, schema: pl.Schema) -> pl.DataType:
    return pl.LazyFrame(schema=schema).select(expr.alias("x")).collect_schema()["x"]


def _shown(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return expr.struct.json_encode() if isinstance(dtype, pl.Struct | pl.List) else expr.cast(pl.String)


def _origin(spec: FieldSpec) -> str:
    if spec.field is not None:
        return f"field '{spec.field}'"
    return "the expression" if spec.expr is not None else "the input"


def _text(expr: pl.Expr, _: pl.DataType) -> pl.Expr:
    return expr.cast(pl.String)


def _direction(expr: pl.Expr, _: pl.DataType) -> pl.Expr:
    return expr.cast(pl.String).str.to_lowercase().cast(DirectionDtype, strict=False)


_ATTRIBUTE_CONVERTERS: dict[str, Converter] = {
    name: (to_boolean if dtype == pl.Boolean else _direction if dtype == DirectionDtype else _text)
    for name, dtype in ATTRIBUTES.items()
}
_WHAT = {
    name: ("a boolean" if dtype == pl.Boolean else "in or out" if dtype == DirectionDtype else "text")
    for name, dtype in ATTRIBUTES.items()
}
