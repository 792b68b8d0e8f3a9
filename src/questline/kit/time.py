"""Time helpers. Stages take `as_of` explicitly; `utcnow` is for bookkeeping columns only."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
