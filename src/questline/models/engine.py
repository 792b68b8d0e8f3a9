from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from questline.kit.db import ID, Base
from questline.kit.time import utcnow


class StreakState(Base):
    """A subscriber's run on one streak definition: the current and the longest run of qualifying periods."""

    __tablename__ = "streaks"

    subscriber_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    streak_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    current: Mapped[int] = mapped_column(Integer)
    longest: Mapped[int] = mapped_column(Integer)
    last_period: Mapped[dt.date | None] = mapped_column()  # start of the last qualifying period
    freezes_used: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class BadgeAward(Base):
    """One level of one badge, held by one subscriber. Levels are awarded once each, in order."""

    __tablename__ = "badge_awards"
    __table_args__ = (UniqueConstraint("subscriber_id", "badge_key", "level"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    subscriber_id: Mapped[str] = mapped_column(String(128), index=True)
    badge_key: Mapped[str] = mapped_column(String(64))
    level: Mapped[int] = mapped_column(SmallInteger)  # 1 bronze, 2 silver, 3 gold, 4 platinum
    as_of: Mapped[dt.date] = mapped_column()
    awarded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Reward(Base):
    """A reward granted, with its reason; `key` makes granting idempotent (one reward per completion or award)."""

    __tablename__ = "rewards"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    subscriber_id: Mapped[str] = mapped_column(String(128), index=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    badge_key: Mapped[str | None] = mapped_column(String(64))
    offer: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProcessedFile(Base):
    """An event-lake file whose events the engine has folded into mission progress (recorded in the same
    transaction as that progress, so a file is never counted twice)."""

    __tablename__ = "processed_files"

    partition: Mapped[str] = mapped_column(String(32), primary_key=True)
    file: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
