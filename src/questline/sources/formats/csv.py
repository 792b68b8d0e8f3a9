"""Delimited text, read by pyarrow's multi-threaded reader with every column as text (typing happens in the mapping,
which is cheaper and lets a bad value reject one row instead of the file). Rows with the wrong number of fields are
returned as bad records."""

from __future__ import annotations

import csv as csvlib
import io
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from questline.sources.formats.base import RECORD, RawRecords, bad_records
from questline.sources.spec import CsvFormat


def read(data: Path | bytes, fmt: CsvFormat) -> RawRecords:
    table, bad = _read(data, fmt, threads=True)
    if not bad:
        return RawRecords(_numbered(_frame(table), np.arange(table.num_rows)))
    # Rare path: the threaded reader cannot say where a bad row was, so read again in order to place every record.
    table, bad = _read(data, fmt, threads=False)
    first_data_line = 2 if fmt.header else 1
    bad_ordinals = [number - first_data_line for number, _, _ in bad]
    positions = np.delete(np.arange(table.num_rows + len(bad)), bad_ordinals)
    frame = _numbered(_frame(table), positions)
    return RawRecords(frame, bad_records([(o, text, why) for o, (_, text, why) in zip(bad_ordinals, bad, strict=True)]))


def _read(data: Path | bytes, fmt: CsvFormat, *, threads: bool) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    bad: list[tuple[int, str, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        bad.append((row.number or 0, row.text, reason))
        return "skip"

    names = fmt.columns
    read_options = pacsv.ReadOptions(
        use_threads=threads,
        column_names=names if not fmt.header or names else None,
        skip_rows=1 if fmt.header and names else 0,
        encoding=fmt.encoding,
        block_size=8 << 20,
    )
    parse_options = pacsv.ParseOptions(
        delimiter=fmt.delimiter,
        quote_char=fmt.quote or False,
        invalid_row_handler=on_invalid,
    )
    source = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    header = names or _header(source, fmt)
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.large_string()),
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    return pacsv.read_csv(source, read_options, parse_options, convert), bad


def _header(source: str | io.BytesIO, fmt: CsvFormat) -> list[str]:
    """The header row's names, so that every column can be read as text."""
    if isinstance(source, io.BytesIO):
        first = source.readline()
        source.seek(0)
    else:
        with open(source, "rb") as file:
            first = file.readline()
    line = first.decode(fmt.encoding).lstrip("\ufeff").rstrip("\r\n")
    return next(csvlib.reader([line], delimiter=fmt.delimiter, quotechar=fmt.quote or None))


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _numbered(frame: pl.DataFrame, positions: np.ndarray) -> pl.DataFrame:
    return frame.with_columns(pl.Series(RECORD, positions, dtype=pl.Int64)).select(RECORD, *frame.columns)
