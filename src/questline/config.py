"""The one settings object. Every value comes from `QUESTLINE_*` variables (or CLI overrides); bad ones fail at
start-up with one line naming the setting."""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from questline.kit.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUESTLINE_", frozen=True, extra="ignore")

    home: Path = Path(".questline")
    database_url: str | None = None
    lake: Path | None = None
    timezone: str = "UTC"
    pseudonymisation_key: SecretStr | None = None
    max_request_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # mission generation: fatigue caps, the default control-group share, and what one reward point costs
    max_active_missions: int = Field(default=5, ge=1, le=50)
    max_missions_per_category: int = Field(default=2, ge=1, le=50)
    control_share: float = Field(default=0.1, ge=0, le=0.5)
    point_value: float = Field(default=0.01, ge=0)
    base_churn: float = Field(default=0.03, ge=0, le=1)  # monthly: the churn probability when no model is active
    # `questline run`: how often a cycle starts, and the local time after which the daily stage runs
    poll_seconds: float = Field(default=60.0, gt=0)
    daily_at: dt.time = dt.time(2, 0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @cached_property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'questline.db'}"

    @cached_property
    def lake_path(self) -> Path:
        return self.lake or self.home / "lake"

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides: object) -> Settings:
    """Read the environment, apply explicit overrides (None means 'not given'), and explain any failure in one line."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "QUESTLINE_" + str(error["loc"][0]).upper() if error["loc"] else "settings"
        raise ConfigError(f"invalid setting {name}: {error['msg']}") from None
