"""Parquet: the columns as stored, read by polars; `_record` is the row's position in the file."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from questline.sources.formats.base import RawRecords, numbered
from questline.sources.spec import ParquetFormat


def read(data: Path | bytes, fmt: ParquetFormat) -> RawRecords:
    return RawRecords(numbered(pl.read_parquet(data)))
