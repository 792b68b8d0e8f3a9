from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from questline.kit.db import ID, Base
from questline.kit.time import utcnow


class MlModel(Base):
    """One version of a model (churn, next best offer, lifetime value, or imported external scores): its metrics,
    feature list, training window and where its artifact lives. At most one version per kind is active."""

    __tablename__ = "ml_models"
    __table_args__ = (
        UniqueConstraint("kind", "version"),
        # the database itself keeps "one active version per kind"
        Index(
            "uq_ml_models_active_kind",
            "kind",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(String(100))
    origin: Mapped[str] = mapped_column(String(16))  # builtin | external
    metrics: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    features: Mapped[list[str]] = mapped_column(JSON, default=list)
    params: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    trained_from: Mapped[dt.date | None] = mapped_column()
    trained_to: Mapped[dt.date | None] = mapped_column()
    artifact: Mapped[str | None] = mapped_column(String(1024))  # path relative to the home
    active: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
