"""How the columns of an operator's own labelled table (a CRM export) become model inputs: which are numbers (also
numbers stored as text with blank cells, and Yes/No flags), which are categories, and which are left out and why.
The same rules run at training and at scoring time, so a model sees its columns the way it was trained."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from questline.kit.errors import Invalid

TRUE_WORDS = frozenset({"yes", "y", "true", "t", "1", "1.0"})
FALSE_WORDS = frozenset({"no", "n", "false", "f", "0", "0.0"})
MAX_LEVELS = 200  # more levels than this one-hot encodes into noise
ID_LIKE_SHARE = 0.5  # a text column with a distinct value on most rows names rows, it does not describe them


@dataclass(frozen=True)
class TableSchema:
    target: str
    id_column: str
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return self.numeric + self.categorical


def read_table(path: Path, *, field: str = "table") -> pl.DataFrame:
    """A CSV (every cell read as text: we type the columns ourselves) or a Parquet file. Errors name `field`."""
    if not path.is_file():
        raise Invalid(f"no such file: {path}", field=field)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pl.read_parquet(path)
        else:
            frame = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise Invalid(f"cannot read {path.name}: {' '.join(str(exc).split())[:200]}", field=field) from None
    if frame.height == 0:
        raise Invalid(f"{path.name} has no rows", field=field)
    return frame


def _text(series: pl.Series) -> pl.Series:
    """Trimmed text with blank cells as nulls."""
    text = series.cast(pl.String).str.strip_chars()
    return pl.select(pl.when(text == "").then(None).otherwise(text)).to_series().alias(series.name)


def as_number(series: pl.Series) -> pl.Series:
    """Numbers, including numbers stored as text and Yes/No/True/False flags; anything else becomes null."""
    if series.dtype.is_numeric() or series.dtype == pl.Boolean:
        return series.cast(pl.Float64)
    text = _text(series).str.to_lowercase()
    flags = text.replace_strict(
        {**dict.fromkeys(TRUE_WORDS, "1"), **dict.fromkeys(FALSE_WORDS, "0")}, default=text, return_dtype=pl.String
    )
    return flags.cast(pl.Float64, strict=False).alias(series.name)


def as_category(series: pl.Series) -> pl.Series:
    return _text(series)


def labels(series: pl.Series) -> pl.Series:
    """The target as 0/1 (null where blank). Exactly two classes, and the positive one must be recognisable."""
    text = _text(series).str.to_lowercase()
    classes = sorted(text.drop_nulls().unique().to_list())
    if len(classes) < 2:
        raise Invalid(f"the target has {len(classes)} class(es) {classes}: need two", field="target")
    if len(classes) > 2:
        raise Invalid(f"the target has {len(classes)} classes ({', '.join(classes[:5])}…): need two", field="target")
    positive = [c for c in classes if c in TRUE_WORDS]
    negative = [c for c in classes if c in FALSE_WORDS]
    if len(positive) != 1 or len(negative) != 1:
        raise Invalid(f"cannot tell the churn class among {classes}: use Yes/No, True/False or 1/0", field="target")
    return (text == positive[0]).cast(pl.Int8).alias(series.name)


def infer_schema(frame: pl.DataFrame, *, target: str, id_column: str) -> TableSchema:
    for name, value in (("target", target), ("id", id_column)):
        if value not in frame.columns:
            raise Invalid(f"no column {value!r} (columns: {', '.join(frame.columns[:20])})", field=name)
    schema = TableSchema(target, id_column)
    for name in frame.columns:
        if name in (target, id_column):
            continue
        kind, reason = _column_kind(frame[name])
        if kind == "numeric":
            schema.numeric.append(name)
        elif kind == "categorical":
            schema.categorical.append(name)
        else:
            schema.excluded[name] = reason
    if not schema.features:
        raise Invalid("no usable feature column besides the target and the id", field="table")
    return schema


def _column_kind(series: pl.Series) -> tuple[str, str]:
    text = _text(series) if not series.dtype.is_numeric() else series
    present = text.drop_nulls()
    if present.is_empty():
        return "excluded", "empty"
    distinct = present.n_unique()
    if distinct == 1:
        return "excluded", "constant"
    numbers = as_number(series)
    if numbers.null_count() == text.null_count():
        whole = bool((numbers.drop_nulls() % 1 == 0).all())
        if whole and present.len() > 20 and distinct == present.len():
            return "excluded", "a distinct integer on every row (an identifier)"
        return "numeric", ""
    if distinct > MAX_LEVELS:
        return "excluded", f"{distinct} distinct values (high cardinality)"
    if present.len() > 20 and distinct > ID_LIKE_SHARE * present.len():
        return "excluded", f"{distinct} distinct values in {present.len()} rows (identifier-like)"
    return "categorical", ""


def features_frame(frame: pl.DataFrame, schema: TableSchema) -> pl.DataFrame:
    """The model's input columns, typed the way the schema says (missing columns are an error, extra ones ignored)."""
    missing = [name for name in schema.features if name not in frame.columns]
    if missing:
        raise Invalid(f"missing feature columns: {', '.join(missing)}", field="table")
    numeric = [as_number(frame[name]) for name in schema.numeric]
    categorical = [as_category(frame[name]) for name in schema.categorical]
    return pl.DataFrame(numeric + categorical)
