"""From generated records to files: render each record as text, break a few on purpose, re-send a few, write.

A feed generator hands over a `Feed`: one row per record, time-ordered, with bookkeeping columns (`_sub` subscriber
index, `_type` event type, `_file` relative path) beside the record's own fields. Everything here is vectorised."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from questline.events.vocabulary import SourceKind

BAD_SHARE = 0.003  # records broken on purpose
BOOKKEEPING = ("_sub", "_type", "_file")

Render = Callable[[pl.DataFrame], pl.Series]


@dataclass(frozen=True)
class Defect:
    """A realistic way a record arrives broken: `apply` turns records into their broken text."""

    name: str
    apply: Render


@dataclass(frozen=True)
class Feed:
    source: str  # the source's name in sources.yaml
    kind: SourceKind
    records: pl.DataFrame
    render: Render
    defects: Sequence[Defect]
    layout: Literal["lines", "json_array"] = "lines"
    resend_share: float = 0.0  # records delivered twice, byte for byte
    header: str | None = None  # a first line in every file (CSV column names)


@dataclass(frozen=True)
class Written:
    """What one source's files hold, for truth.json and the end-to-end check."""

    source: str
    kind: SourceKind
    files: list[str]
    records: int  # records written, bad ones and re-sent copies included
    bad: dict[str, int]  # defect name -> records broken that way
    duplicates: int
    events: pl.DataFrame  # good records, each once, counted per subscriber and type: `_sub`, `_type`, `n`

    @staticmethod
    def merge(parts: Sequence[Written]) -> Written:
        """One source written in several parts (a day at a time)."""
        bad: dict[str, int] = {}
        for part in parts:
            for name, count in part.bad.items():
                bad[name] = bad.get(name, 0) + count
        return Written(
            parts[0].source,
            parts[0].kind,
            [name for part in parts for name in part.files],
            sum(part.records for part in parts),
            bad,
            sum(part.duplicates for part in parts),
            tally(pl.concat([part.events for part in parts])),
        )


def tally(events: pl.DataFrame) -> pl.DataFrame:
    """Events per subscriber and type, from one row per event (`_sub`, `_type`) or partial tallies (with `n`)."""
    n = pl.col("n").sum() if "n" in events.columns else pl.len()
    return events.group_by("_sub", "_type").agg(n.cast(pl.Int64).alias("n")).sort("_sub", "_type")


def write(feed: Feed, out: Path, rng: np.random.Generator) -> Written:
    records = feed.records
    text = feed.render(records)
    text, bad_mask, bad = _break(feed, text, rng)
    lines = records.select(*BOOKKEEPING).with_columns(
        text.alias("_text"), pl.Series("_bad", bad_mask), pl.int_range(pl.len()).alias("_order")
    )
    good = tally(lines.filter(~pl.col("_bad")).select("_sub", "_type"))
    copies = _resend(lines, feed.resend_share, rng)
    ordered = pl.concat([lines, copies]).sort("_file", "_order", maintain_order=True)
    files = _write_files(ordered, out, feed.layout, feed.header)
    return Written(feed.source, feed.kind, files, lines.height + copies.height, bad, copies.height, good)


def bad_count(records: int) -> int:
    """At least one broken record in any non-empty feed, about BAD_SHARE of a large one."""
    return 0 if records == 0 else max(1, round(records * BAD_SHARE))


def _break(feed: Feed, text: pl.Series, rng: np.random.Generator) -> tuple[pl.Series, np.ndarray, dict[str, int]]:
    n = text.len()
    chosen = np.sort(rng.choice(n, size=min(n, bad_count(n)), replace=False))
    kind = rng.permutation(np.arange(chosen.size) % len(feed.defects))  # every defect shows up when there's room
    broken = text.clone()
    counts: dict[str, int] = {}
    for number, defect in enumerate(feed.defects):
        rows = chosen[kind == number]
        counts[defect.name] = int(rows.size)
        if rows.size:
            broken.scatter(rows, defect.apply(feed.records[rows]))
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    return broken, mask, counts


def _resend(lines: pl.DataFrame, share: float, rng: np.random.Generator) -> pl.DataFrame:
    """Copies of a few good records, appended to the end of their own file as a mediation re-delivery would."""
    good = np.flatnonzero(~lines["_bad"].to_numpy())
    if share <= 0 or good.size == 0:
        return lines.clear()
    picked = np.sort(rng.choice(good, size=max(1, round(good.size * share)), replace=False))
    return lines[picked].with_columns(pl.col("_order") + lines.height)


def _write_files(lines: pl.DataFrame, out: Path, layout: str, header: str | None) -> list[str]:
    """Each file's records in order, streamed by polars' CSV writer with no quoting (the text is final)."""
    names: list[str] = []
    array = layout == "json_array"
    for part in lines.partition_by("_file", maintain_order=True):
        name = str(part["_file"][0])
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = part.select(
            pl.when(pl.int_range(pl.len()) < pl.len() - 1).then(pl.col("_text") + ",").otherwise("_text")
            if array
            else pl.col("_text")
        )
        with path.open("wb") as handle:
            handle.write(b"[\n" if array else f"{header}\n".encode() if header else b"")
            text.write_csv(handle, include_header=False, quote_style="never", line_terminator="\n")
            handle.write(b"]\n" if array else b"")
        names.append(name)
    return names


def encode_by(frame: pl.DataFrame, key: str, shapes: Mapping[str, Sequence[pl.Expr]]) -> pl.Series:
    """JSON text per row, the object's members chosen by the row's `key` (members differ per event type)."""
    indexed = frame.with_row_index("_i")
    parts = [
        indexed.filter(pl.col(key) == value).select("_i", pl.struct(*members).struct.json_encode().alias("_json"))
        for value, members in shapes.items()
    ]
    joined = pl.concat(parts).sort("_i")
    if joined.height != frame.height:
        raise ValueError(f"encode_by: rows with a {key} outside {sorted(shapes)}")
    return joined["_json"]


def day_file(prefix: str, suffix: str, dates: Sequence[str]) -> Callable[[np.ndarray], np.ndarray]:
    """A record's file from its period day: `prefix + YYYYMMDD + suffix`."""
    names = np.array([f"{prefix}{d}{suffix}" for d in dates])
    return lambda day: names[day]


def table(columns: Mapping[str, Any], dtypes: Mapping[str, pl.DataType] | None = None) -> pl.DataFrame:
    """A frame from numpy arrays, Series and scalars (repeated), typed by its inputs even when it has no rows
    (polars' dict constructor types an empty frame as all-null columns, which then refuse to be concatenated)."""
    size = next(len(v) for v in columns.values() if isinstance(v, np.ndarray | pl.Series))
    dtypes = dtypes or {}

    def series(name: str, value: Any) -> pl.Series:
        if isinstance(value, pl.Series):
            column = value.alias(name)
        elif isinstance(value, np.ndarray):
            column = pl.Series(name, value)
        else:
            column = pl.repeat(value, size, eager=True, dtype=dtypes.get(name)).alias(name)
        return column.cast(dtypes[name]) if name in dtypes else column

    return pl.DataFrame([series(name, value) for name, value in columns.items()])
