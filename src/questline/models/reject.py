from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from questline.kit.db import ID, Base
from questline.kit.time import utcnow


class Reject(Base):
    """A record that could not be normalized, kept with where it came from and why. `fingerprint` (source, location,
    record, raw content) makes storing it idempotent: re-reading a file or re-posting an event adds no second row."""

    __tablename__ = "rejects"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(20), unique=True)
    source: Mapped[str] = mapped_column(String(63), index=True)
    location: Mapped[str] = mapped_column(String(1024))
    record: Mapped[int | None] = mapped_column(BigInteger)
    raw: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "source": self.source,
            "location": self.location,
            "record": self.record,
            "reason": self.reason,
            "raw": self.raw,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }
