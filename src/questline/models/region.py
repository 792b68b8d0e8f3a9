from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from questline.kit.db import Base
from questline.kit.time import utcnow


class Region(Base):
    """One row of the operator's map from a location area (or a single cell) to the region it belongs to."""

    __tablename__ = "regions"

    location: Mapped[str] = mapped_column(String(64), primary_key=True)
    region: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
