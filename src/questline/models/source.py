from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from questline.kit.db import ID, Base
from questline.kit.time import utcnow


class Source(Base):
    """A configured data source; `spec` is its validated SourceSpec document, `version` counts its edits."""

    __tablename__ = "sources"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, object]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class SourceFile(Base):
    """The checkpoint: a file (by path and content checksum) that a source has fully ingested, with its counts."""

    __tablename__ = "source_files"
    __table_args__ = (UniqueConstraint("source", "path", "checksum"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    source: Mapped[str] = mapped_column(ForeignKey("sources.name", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    checksum: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    records: Mapped[int] = mapped_column(BigInteger)
    events: Mapped[int] = mapped_column(BigInteger)
    duplicates: Mapped[int] = mapped_column(BigInteger)
    rejected: Mapped[int] = mapped_column(BigInteger)
    filtered: Mapped[int] = mapped_column(BigInteger)
    done_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
