"""The event lake: normalized events partitioned by their date in the operator's time zone. Later stages read
events only through `EventStore.scan`."""

from __future__ import annotations

import datetime as dt

import polars as pl

from questline.events.schema import EVENT_SCHEMA
from questline.events.vocabulary import SOURCE_KINDS
from questline.kit.lake import Appended, Lake

TABLE = "events"
PARTITION = "event_date"


class EventStore:
    def __init__(self, lake: Lake, zone: str) -> None:
        self.lake = lake
        self.zone = zone

    def append(self, events: pl.DataFrame) -> Appended:
        """Add events not already in the lake (by event_id); report how many were new and how many were known."""
        dated = events.with_columns(pl.col("event_time").dt.convert_time_zone(self.zone).dt.date().alias(PARTITION))
        return self.lake.append(TABLE, dated, partition=PARTITION, key="event_id")

    def scan(self, start: dt.date | None = None, end: dt.date | None = None) -> pl.LazyFrame:
        """Events with local dates in [start, end], as EVENT_SCHEMA plus `event_date`."""
        frame = self.lake.scan(TABLE)
        if frame is None:
            return EVENT_SCHEMA.to_frame().lazy().with_columns(pl.lit(None, pl.Date).alias(PARTITION))
        frame = frame.with_columns(pl.col(PARTITION).cast(pl.Date))
        if start is not None:
            frame = frame.filter(pl.col(PARTITION) >= start)
        if end is not None:
            frame = frame.filter(pl.col(PARTITION) <= end)
        return frame.with_columns(
            *(pl.col(name).cast(dtype) for name, dtype in EVENT_SCHEMA.items() if dtype != pl.String)
        )

    def counts_by_kind(self) -> dict[str, int]:
        counts = self.scan().group_by("source_kind").len().collect()
        found = {str(k): int(n) for k, n in counts.iter_rows()}
        return {kind: found.get(kind, 0) for kind in SOURCE_KINDS}
