"""What every format reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

RECORD = "_record"  # column holding each record's position in its file (0-based), for rejects and natural keys
BAD_SCHEMA = pl.Schema({RECORD: pl.Int64(), "raw": pl.String(), "reason": pl.String()})


@dataclass(frozen=True)
class RawRecords:
    """`frame`: one row per record that could be read, its fields as columns (nested records as structs, lists as
    lists), plus `_record`. `bad`: the records that could not be read at all, with their raw text and the reason."""

    frame: pl.DataFrame
    bad: pl.DataFrame = field(default_factory=BAD_SCHEMA.to_frame)

    def __post_init__(self) -> None:
        if RECORD not in self.frame.columns:
            raise ValueError(f"a reader must add the {RECORD} column")


def numbered(frame: pl.DataFrame, start: int = 0) -> pl.DataFrame:
    """Add `_record` = position in the file."""
    return frame.with_row_index(RECORD, offset=start).with_columns(pl.col(RECORD).cast(pl.Int64))


def bad_records(rows: list[tuple[int, str, str]]) -> pl.DataFrame:
    """Rows of (record, raw, reason) as the `bad` frame."""
    return pl.DataFrame(rows, schema=BAD_SCHEMA, orient="row")
