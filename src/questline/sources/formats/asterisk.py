"""Asterisk `cdr_csv` (Master.csv): CSV without a header row, its fields in the configured order (newer Asterisk
versions append peeraccount, linkedid and sequence, so a source lists 21 columns for those files). Rows with another
number of fields are bad records."""

from __future__ import annotations

from pathlib import Path

from questline.sources.formats import csv
from questline.sources.formats.base import RawRecords
from questline.sources.spec import AsteriskFormat, CsvFormat


def read(data: Path | bytes, fmt: AsteriskFormat) -> RawRecords:
    # cdr_csv quotes text fields and doubles embedded quotes (`"""Alice"" <1001>"`), which is standard CSV
    return csv.read(data, CsvFormat(header=False, columns=fmt.columns))
