from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from questline.kit.db import ID, Base
from questline.kit.time import utcnow


class OutboxEvent(Base):
    """Events a stage hands on to later stages and webhooks (e.g. `score.changed`), written in the same transaction
    as the change they announce. `key` makes emitting idempotent: a re-run emits nothing twice."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(128), index=True)
    time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
