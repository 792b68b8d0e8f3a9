"""Everything a command or the API works with, opened once from the settings: database, lake, event store."""

from __future__ import annotations

from dataclasses import dataclass

from questline.config import Settings
from questline.events.store import EventStore
from questline.kit.db import Database, migrate
from questline.kit.lake import Lake


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    db: Database
    lake: Lake
    events: EventStore

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        settings.home.mkdir(parents=True, exist_ok=True)
        db = Database(settings.db_url)
        migrate(db.engine)
        lake = Lake(settings.lake_path)
        return cls(settings, db, lake, EventStore(lake, settings.timezone))

    @property
    def secret(self) -> str | None:
        key = self.settings.pseudonymisation_key
        return key.get_secret_value() if key else None
