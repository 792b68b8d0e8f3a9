"""The normalized event: one schema for every source. Attributes are typed columns, null where they don't apply."""

from __future__ import annotations

import polars as pl

from questline.events.vocabulary import EVENT_TYPE_NAMES, SOURCE_KINDS, Unit

SourceKindDtype = pl.Enum(SOURCE_KINDS)
EventTypeDtype = pl.Enum(EVENT_TYPE_NAMES)
UnitDtype = pl.Enum([u.value for u in Unit])
DirectionDtype = pl.Enum(["in", "out"])

# Typed attributes: name -> dtype. A mapping fills any of them; the rest stay null.
ATTRIBUTES: dict[str, pl.DataType] = {
    "product": pl.String(),
    "channel": pl.String(),
    "direction": DirectionDtype,
    "on_net": pl.Boolean(),
    "roaming": pl.Boolean(),
    "country": pl.String(),
    "cell": pl.String(),
    "device": pl.String(),
    "feature": pl.String(),
    "currency": pl.String(),
    "on_time": pl.Boolean(),
    "plan": pl.String(),
    "reason": pl.String(),
}

CORE: dict[str, pl.DataType] = {
    "event_id": pl.UInt64(),
    "subscriber_id": pl.String(),
    "event_time": pl.Datetime("us", "UTC"),
    "source_kind": SourceKindDtype,
    "source": pl.String(),
    "event_type": EventTypeDtype,
    "value": pl.Float64(),
    "unit": UnitDtype,
}

EVENT_SCHEMA = pl.Schema({**CORE, **ATTRIBUTES})

REJECT_SCHEMA = pl.Schema(
    {
        "source": pl.String(),
        "location": pl.String(),
        "record": pl.Int64(),
        "raw": pl.String(),
        "reason": pl.String(),
    }
)


def event_id_hex(event_id: int) -> str:
    """The printable form of an event id (CloudEvents `id`)."""
    return f"{event_id:016x}"
