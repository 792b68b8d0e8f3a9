from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from questline.kit.db import ID, Base
from questline.kit.time import utcnow


class MissionTemplate(Base):
    """One version of a mission template (the validated document). The highest version of a key is the current one;
    older versions stay so that every mission can name the version it came from."""

    __tablename__ = "mission_templates"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(16))  # builtin | operator
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Mission(Base):
    """A concrete mission: a template version with one value per variation dimension."""

    __tablename__ = "missions"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    template_key: Mapped[str] = mapped_column(String(64), index=True)
    template_version: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, object]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Assignment(Base):
    """A mission given to one subscriber, with their personal parameters. Control-group assignments are recorded
    the same way (`control`) but never shown, so that uplift can be measured."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_subscriber_status", "subscriber_id", "status"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    subscriber_id: Mapped[str] = mapped_column(String(128))
    mission_key: Mapped[str] = mapped_column(String(200), index=True)
    template_key: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, object]] = mapped_column(JSON)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(16))  # active | completed | expired
    control: Mapped[bool] = mapped_column(default=False)
    completion: Mapped[float] = mapped_column(Float)  # estimated chance of completing, used for ranking
    expected_value: Mapped[float] = mapped_column(Float)
    reward_points: Mapped[int] = mapped_column(Integer)
    generated_as_of: Mapped[dt.date] = mapped_column(index=True)
    # progress, kept by the engine on every batch: the criteria's value against its target
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    target: Mapped[float | None] = mapped_column(Float)
    fraction: Mapped[float] = mapped_column(Float, default=0.0)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # the criteria's leaf states (JSON), updated in the same transaction as the progress they give
    state: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
