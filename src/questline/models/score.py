from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, DateTime, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from questline.kit.db import Base
from questline.kit.time import utcnow


class SubscriberScore(Base):
    """A subscriber's current scores (the latest scoring run); dated snapshots live in the lake."""

    __tablename__ = "subscriber_scores"

    subscriber_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(index=True)
    engagement: Mapped[float] = mapped_column(Float)
    revenue: Mapped[float] = mapped_column(Float)
    loyalty: Mapped[float] = mapped_column(Float)
    risk: Mapped[float] = mapped_column(Float)
    digital: Mapped[float] = mapped_column(Float)
    churn_probability: Mapped[float | None] = mapped_column(Float)
    lifetime_value: Mapped[float | None] = mapped_column(Float)
    segment: Mapped[str | None] = mapped_column(String(64), index=True)
    explanation: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class SegmentSize(Base):
    """How many subscribers a segment held at each scoring run."""

    __tablename__ = "segment_sizes"

    as_of: Mapped[dt.date] = mapped_column(primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
