"""Records pushed over HTTP: the same mapping, lake and rejects as files, answered per record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from questline.runtime import Runtime
from questline.sources.formats.base import RECORD, RawRecords
from questline.sources.mapping import normalize
from questline.sources.spec import SourceSpec
from questline.sources.sync import land


@dataclass(frozen=True)
class PushResult:
    accepted: int
    duplicates: int
    rejected: int

    def counts(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def ingest_http(
    rt: Runtime, spec: SourceSpec, frame: pl.DataFrame, *, location: str
) -> tuple[PushResult, dict[int, str]]:
    """Normalize and land pushed records; return the counts and each rejected record's reason by position.

    Rejects are kept without their position in the request, so the same bad record posted again is kept once."""
    normalized = normalize(RawRecords(frame), spec, location=location, zone=rt.settings.timezone, secret=rt.secret)
    reasons = dict(normalized.rejects.select("record", "reason").iter_rows())
    unplaced = normalized.rejects.with_columns(pl.lit(None, pl.Int64).alias("record"))
    result = land(rt, type(normalized)(normalized.events, unplaced, normalized.filtered))
    return PushResult(result.events, result.duplicates, result.rejected), reasons


def records_frame(records: Any) -> pl.DataFrame:
    """A JSON array of objects as a frame with `_record` = array position."""
    frame = pl.DataFrame(records, infer_schema_length=None, strict=False)
    return frame.with_row_index(RECORD).with_columns(pl.col(RECORD).cast(pl.Int64))
