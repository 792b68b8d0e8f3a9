"""Writing to the outbox idempotently: an event whose key is already there is not written again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from questline.models import OutboxEvent

CHUNK = 5_000  # keys looked up per query: well under every database's parameter limit


def emit(session: Session, events: Sequence[dict[str, Any]]) -> int:
    """Insert the events (key, type, subject, time, data) whose key is new; return how many were."""
    keys = [e["key"] for e in events]
    known: set[str] = set()
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        known.update(session.scalars(select(OutboxEvent.key).where(OutboxEvent.key.in_(chunk))))
    fresh = {e["key"]: e for e in events if e["key"] not in known}  # also one per key within this call
    if fresh:
        session.execute(insert(OutboxEvent), list(fresh.values()))
    return len(fresh)
