"""Compile one FieldSpec of a mapping into polars expressions over the reader's frame.

Every expression here is vectorised; nothing runs per row in Python. Paths are resolved against the frame's schema
so that a field absent from a file (common in JSON) reads as null instead of failing the whole file."""

from __future__ import annotations

import re
from typing import Any, Literal

import polars as pl

from questline.kit.errors import Invalid
from questline.sources.spec import FieldSpec, MsisdnRule, field_path

# RFC 3339 / ISO 8601 with an offset, then the same without one (read in the source's zone).
ISO_AWARE = ("%Y-%m-%dT%H:%M:%S%.f%#z",)
ISO_NAIVE = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d")
EPOCHS: dict[str, Literal["s", "ms", "us"]] = {"epoch_s": "s", "epoch_ms": "ms", "epoch_us": "us"}
_WORDS = {
    "true": True,
    "t": True,
    "yes": True,
    "y": True,
    "1": True,
    "false": False,
    "f": False,
    "no": False,
    "n": False,
}
# Every casing people write, so that one hash lookup types a column (no lower-casing pass first).
BOOLEAN_WORDS = {form: v for w, v in {**_WORDS, "0": False}.items() for form in (w, w.upper(), w.title())}
_SELECTOR = re.compile(r"^\[(?:(?P<index>-?\d+)|(?P<all>\*)|(?P<key>[^=\]]+)=(?P<value>[^\]]*))\]$")


def path_expr(path: str, schema: pl.Schema) -> pl.Expr:
    """`a.b[name=x].c`, `a[0]`, `a[*].b` -> an expression; a missing step yields null."""
    steps = field_path(path)
    if steps[0] not in schema:
        return pl.lit(None)
    expr, in_list = pl.col(steps[0]), False
    dtype: Any = schema[steps[0]]
    for step in steps[1:]:
        selector = _SELECTOR.match(step)
        if selector is None:  # a struct field, element-wise once we are inside a list
            inner = dtype.inner if in_list else dtype
            if not isinstance(inner, pl.Struct) or step not in {f.name for f in inner.fields}:
                return pl.lit(None)
            child = next(f.dtype for f in inner.fields if f.name == step)
            if in_list:
                expr, dtype = expr.list.eval(pl.element().struct.field(step)), pl.List(child)
            else:
                expr, dtype = expr.struct.field(step), child
            continue
        if not isinstance(dtype, pl.List) or in_list:
            return pl.lit(None)
        if selector["all"]:
            in_list = True
            continue
        if selector["index"] is not None:
            expr = expr.list.get(int(selector["index"]), null_on_oob=True)
        else:
            key, wanted = selector["key"], selector["value"]
            picked = pl.element().filter(pl.element().struct.field(key).cast(pl.String) == wanted)
            expr = expr.list.eval(picked).list.first()
        dtype = dtype.inner
    return expr


def input_expr(spec: FieldSpec, schema: pl.Schema) -> pl.Expr:
    """The raw input the spec reads, before lookups and conversions."""
    if spec.field is not None:
        return path_expr(spec.field, schema)
    if spec.sum is not None:
        parts = [_summable(path_expr(p, schema), p, schema) for p in spec.sum]
        return pl.when(pl.all_horizontal(p.is_null() for p in parts)).then(None).otherwise(pl.sum_horizontal(parts))
    if spec.expr is not None:
        try:
            return pl.sql_expr(spec.expr)
        except Exception as exc:  # polars raises several types for SQL it cannot read
            raise Invalid(f"cannot read expression {spec.expr!r}: {exc}", field="expr") from None
    return pl.lit(spec.const)


def _summable(expr: pl.Expr, path: str, schema: pl.Schema) -> pl.Expr:
    if "[*]" in path:
        return expr.list.eval(pl.element().cast(pl.Float64, strict=False)).list.sum()
    return expr.cast(pl.Float64, strict=False)


def lookup(expr: pl.Expr, spec: FieldSpec) -> pl.Expr:
    """Translate codes through the spec's table; an unknown code becomes `lookup_default` (null if none)."""
    if spec.lookup is None:
        return expr
    table = spec.lookup
    values = list(table.values())
    dtype = pl.Series(values, strict=False).dtype if values else pl.String()
    return expr.cast(pl.String).replace_strict(
        list(table),
        values,
        default=spec.lookup_default,
        return_dtype=dtype if dtype != pl.Null else pl.String(),
    )


def to_number(expr: pl.Expr, factor: float = 1.0) -> pl.Expr:
    number = expr.cast(pl.Float64, strict=False)
    return number * factor if factor != 1.0 else number


def to_boolean(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean:
        return expr
    if dtype.is_numeric():
        return expr != 0
    return expr.cast(pl.String).replace_strict(BOOLEAN_WORDS, default=None, return_dtype=pl.Boolean)


def to_timestamp(expr: pl.Expr, dtype: pl.DataType, spec: FieldSpec, zone: str) -> pl.Expr:
    """Any supported input -> UTC datetime; unparseable values and local times that don't exist become null."""
    zone = spec.timezone or zone
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return _local_to_utc(expr.cast(pl.Datetime("us")), zone)
        return expr.dt.convert_time_zone("UTC").cast(pl.Datetime("us", "UTC"))
    formats = [spec.format] if isinstance(spec.format, str) else list(spec.format or ["iso8601"])
    text = expr.cast(pl.String).str.strip_chars()
    parsed: list[pl.Expr] = []
    for fmt in formats:
        if fmt in EPOCHS:
            ticks = text.cast(pl.Int64, strict=False)
            parsed.append(pl.from_epoch(ticks, time_unit=EPOCHS[fmt]).dt.replace_time_zone("UTC"))
        elif fmt == "iso8601":
            parsed += [_aware(text, f) for f in ISO_AWARE] + [_naive(text, f, zone) for f in ISO_NAIVE]
        elif "%z" in fmt or "%#z" in fmt or "%:z" in fmt:
            parsed.append(_aware(text, fmt))
        else:
            parsed.append(_naive(text, fmt, zone))
    return pl.coalesce(parsed).cast(pl.Datetime("us", "UTC"))


def _aware(text: pl.Expr, fmt: str) -> pl.Expr:
    return text.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False)


def _naive(text: pl.Expr, fmt: str, zone: str) -> pl.Expr:
    return _local_to_utc(text.str.strptime(pl.Datetime("us"), fmt, strict=False), zone)


def _local_to_utc(expr: pl.Expr, zone: str) -> pl.Expr:
    local = expr.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC")


def msisdn_text(expr: pl.Expr) -> pl.Expr:
    """A phone number without the separators people write in it; `to_msisdn` reads this."""
    return expr.cast(pl.String).str.replace_all(r"[\s\-().]", "")


def to_msisdn(text: pl.Expr, rule: MsisdnRule) -> pl.Expr:
    """A column of `msisdn_text` in national or international notation -> E.164 (`+` and 8-15 digits) or null.

    Prefix tests and slices instead of regex rewrites, one regex to validate: `+` or the international prefix is
    dropped; the national prefix becomes the country code; digits that already start with the country code and are
    longer than a national number are kept; anything else gets the country code in front."""
    cc, national, international = rule.country_code, rule.national_prefix, rule.international_prefix
    digits: Any = pl.when(text.str.starts_with("+")).then(text.str.slice(1))
    if international:
        digits = digits.when(text.str.starts_with(international)).then(text.str.slice(len(international)))
    if national:
        digits = digits.when(text.str.starts_with(national)).then(pl.lit(cc) + text.str.slice(len(national)))
    digits = digits.when(text.str.starts_with(cc) & (text.str.len_bytes() > 10)).then(text)
    e164 = pl.lit("+") + digits.otherwise(pl.lit(cc) + text)
    return e164.str.extract(r"^(\+[1-9][0-9]{7,14})$", 1)
