"""Leaf states in the database: each assignment's `state` column holds, per state key, its row of the leaf's state
as JSON (times as epoch microseconds). Kept beside the progress they give, in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from questline.rules.criteria import Leaf
from questline.rules.measures import measure_of

TIME = pl.Datetime("us", "UTC")


def state_schema(leaf: Leaf) -> pl.Schema:
    """The columns of a leaf's state, as the measures define them."""
    columns = measure_of(leaf).columns
    return pl.Schema(
        {"assignment_id": pl.UInt64(), "target": pl.Float64(), **columns, "completed_at": TIME, "last_at": TIME}
    )


def decode(documents: Iterable[tuple[int, str | None]], key: str, schema: pl.Schema) -> pl.DataFrame:
    """The states stored under `key`, as a frame of `schema`, for the assignments that have one."""
    rows = []
    for assignment_id, text in documents:
        stored = json.loads(text).get(key) if text else None
        if stored is not None:
            rows.append({**stored, "assignment_id": assignment_id})
    raw = {n: (pl.Int64() if isinstance(t, pl.Datetime) else t) for n, t in schema.items()}
    frame = pl.DataFrame(rows, schema=raw, orient="row") if rows else pl.DataFrame(schema=raw)
    return frame.with_columns(pl.col(n).cast(TIME) for n, t in schema.items() if isinstance(t, pl.Datetime))


def encode(states: Mapping[str, pl.DataFrame], current: Mapping[int, str | None]) -> dict[int, str]:
    """The new `state` text of every assignment some state frame mentions, merged into what it held."""
    updated: dict[int, dict[str, Any]] = {}
    for key, frame in states.items():
        plain = frame.with_columns(pl.selectors.datetime().dt.epoch("us"))
        for row in plain.to_dicts():
            assignment_id = int(row.pop("assignment_id"))
            if assignment_id not in updated:
                text = current.get(assignment_id)
                updated[assignment_id] = json.loads(text) if text else {}
            updated[assignment_id][key] = row
    return {assignment_id: json.dumps(value, separators=(",", ":")) for assignment_id, value in updated.items()}
