"""Segments: ordered rules over scores, ML outputs and attributes, compiled to one polars expression. The first rule
a subscriber matches names their segment; who matches none gets the fallback. A rule over a missing value (null)
does not match, so a subscriber without, say, a churn probability simply falls through to the next segment."""

from __future__ import annotations

import polars as pl

from questline.kit.errors import ConfigError, Invalid
from questline.scoring.config import AllOf, AnyOf, Condition, Ref, Rule, SegmentConfig

ID = "subscriber_id"
SEGMENT = "segment"


def assign(frame: pl.DataFrame, segments: SegmentConfig) -> pl.DataFrame:
    """subscriber_id and segment (the segment's name) for every row of `frame` (scores joined with features)."""
    if ID not in frame.columns:
        raise Invalid(f"the table has no {ID} column", field=ID)
    return frame.select(ID, compile_segments(segments, frame.schema).alias(SEGMENT))


def sizes(assignment: pl.DataFrame, segments: SegmentConfig) -> pl.DataFrame:
    """segment, label, subscribers and share (0-1) of every configured segment, in rule order, empty ones included."""
    labels = [s.label for s in segments.segments] + [segments.fallback.label]
    catalogue = pl.DataFrame({SEGMENT: segments.names, "label": labels})
    counts = assignment.group_by(SEGMENT).agg(pl.len().cast(pl.Int64).alias("subscribers"))
    total = max(assignment.height, 1)
    return (
        catalogue.join(counts, on=SEGMENT, how="left", maintain_order="left")
        .with_columns(pl.col("subscribers").fill_null(0))
        .with_columns((pl.col("subscribers") / total).alias("share"))
    )


def compile_segments(segments: SegmentConfig, schema: pl.Schema) -> pl.Expr:
    """One when/then chain, in rule order, ending in the fallback. Fields are checked against `schema`."""
    optional = set(segments.optional)
    conditions = [
        compile_condition(s.when, schema, optional, f"segments.{i}.when") for i, s in enumerate(segments.segments)
    ]
    chain = pl.lit(segments.fallback.name)
    for condition, segment in reversed(list(zip(conditions, segments.segments, strict=True))):
        chain = pl.when(condition).then(pl.lit(segment.name)).otherwise(chain)  # built inside out: first rule wins
    return chain


def compile_condition(condition: Condition, schema: pl.Schema, optional: set[str], where: str) -> pl.Expr:
    """A condition as a boolean expression over `schema`; rules over absent `optional` fields never hold."""
    if isinstance(condition, AllOf):
        parts = [compile_condition(c, schema, optional, f"{where}.all.{i}") for i, c in enumerate(condition.all)]
        return pl.all_horizontal(parts)
    if isinstance(condition, AnyOf):
        parts = [compile_condition(c, schema, optional, f"{where}.any.{i}") for i, c in enumerate(condition.any)]
        return pl.any_horizontal(parts)
    return _rule(condition, schema, optional, where)


def _rule(rule: Rule, schema: pl.Schema, optional: set[str], where: str) -> pl.Expr:
    fields = [rule.field] + ([rule.value.field] if isinstance(rule.value, Ref) else [])
    if any(field not in schema and field in optional for field in fields):
        return pl.lit(False)  # an ML output not produced yet: the rule cannot hold
    for field, at in zip(fields, (f"{where}.field", f"{where}.value.field"), strict=False):
        if field not in schema:
            raise ConfigError(f"unknown field {field!r}: not a column this condition can read", field=at)
    _check_types(rule, schema, where)
    return _compare(pl.col(rule.field), rule).fill_null(False)


def _check_types(rule: Rule, schema: pl.Schema, where: str) -> None:
    """Refuse comparisons that could only ever be false or fail, naming the rule."""
    dtype = schema[rule.field]
    if isinstance(dtype, pl.Null):
        return  # all missing: the rule never matches, whatever the value
    values = rule.value if isinstance(rule.value, list) else [rule.value]
    for value in values:
        if isinstance(value, Ref):
            ok = dtype.is_numeric() and (schema[value.field].is_numeric() or isinstance(schema[value.field], pl.Null))
        elif isinstance(value, bool):
            ok = isinstance(dtype, pl.Boolean)
        elif isinstance(value, str):
            ok = isinstance(dtype, pl.String | pl.Categorical | pl.Enum)
        else:
            ok = dtype.is_numeric()
        if not ok:
            raise ConfigError(f"{rule.field!r} is {dtype}: cannot compare it with {value!r}", field=f"{where}.value")


def _compare(column: pl.Expr, rule: Rule) -> pl.Expr:
    value = rule.value
    if isinstance(value, list):
        if rule.op == "in":
            return column.is_in(value)
        low, high = value  # `between`: two numbers, checked by the model
        return column.is_between(low, high, closed="both")
    other = pl.col(value.field) + value.plus if isinstance(value, Ref) else pl.lit(value)
    match rule.op:
        case ">=":
            return column >= other
        case "<=":
            return column <= other
        case ">":
            return column > other
        case "<":
            return column < other
        case "==":
            return column == other
    return column != other


def condition_fields(condition: Condition) -> set[str]:
    """Every column a condition reads."""
    if isinstance(condition, AllOf | AnyOf):
        parts = condition.all if isinstance(condition, AllOf) else condition.any
        return set().union(*(condition_fields(c) for c in parts))
    return {condition.field} | ({condition.value.field} if isinstance(condition.value, Ref) else set())
