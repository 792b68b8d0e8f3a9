"""Counts of what came in: events in the lake per source kind, rejects per source."""

from __future__ import annotations

from typing import Any

from questline.events import rejects
from questline.runtime import Runtime


def stats(rt: Runtime) -> dict[str, Any]:
    events = rt.events.counts_by_kind()
    with rt.db.session() as session:
        by_source = rejects.counts(session)
    return {
        "events": events,
        "total": sum(events.values()),
        "rejects": sum(by_source.values()),
        "rejects_by_source": by_source,
    }
