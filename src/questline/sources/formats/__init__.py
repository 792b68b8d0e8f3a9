"""Format readers: raw bytes in a native format -> one row per record, plus the records that could not be read.

Each reader lives in its own module and is imported only when a source of that format is used."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

from questline.sources.formats.base import RawRecords
from questline.sources.spec import Spec

# format type -> module whose `read(data, fmt)` reads it
READERS: dict[str, str] = {
    "csv": "questline.sources.formats.csv",
    "asterisk_csv": "questline.sources.formats.asterisk",
    "jsonl": "questline.sources.formats.jsonl",
    "parquet": "questline.sources.formats.parquet",
    "cloudevents": "questline.sources.formats.cloudevents",
    "tmf635_usage": "questline.sources.formats.tmf",
    "tmf654_topup": "questline.sources.formats.tmf",
    "tmf629_customer": "questline.sources.formats.tmf",
    "ber": "questline.sources.formats.asn1_ber",
}


class Reader(Protocol):
    def __call__(self, data: Path | bytes, fmt: Spec, /) -> RawRecords: ...


def reader_for(fmt: Spec) -> Reader:
    module = importlib.import_module(READERS[fmt.type])  # type: ignore[attr-defined]
    read: Reader = module.read
    return read


def read(data: Path | bytes, fmt: Spec) -> RawRecords:
    return reader_for(fmt)(data, fmt)
