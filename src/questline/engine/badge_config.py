"""Badge definitions as a validated document (`badges.yaml`): what each badge measures, the four level thresholds and
the points each level grants. A badge is one of four kinds, told apart by `source`."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from questline.kit.documents import load_document
from questline.kit.naming import refuse_repeats
from questline.missions.template import Category
from questline.scoring.config import ScoreName
from questline.scoring.daily import NUMERIC_METRICS

DEFAULT = Path(__file__).with_name("badges.yaml")
LEVELS = ("none", "bronze", "silver", "gold", "platinum")  # index = level number
KEY = r"^[a-z][a-z0-9_]{0,62}$"
SOURCES = ("metric", "score", "missions", "streak")


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(Spec):
    """The value at which each level is reached (inclusive), strictly increasing from Bronze to Platinum."""

    bronze: float = Field(gt=0)
    silver: float
    gold: float
    platinum: float

    @model_validator(mode="after")
    def _increasing(self) -> Thresholds:
        if any(b <= a for a, b in itertools.pairwise(self.values)):
            raise ValueError("thresholds must increase strictly: bronze < silver < gold < platinum")
        return self

    @property
    def values(self) -> tuple[float, float, float, float]:
        return (self.bronze, self.silver, self.gold, self.platinum)


class Points(Spec):
    """Loyalty points granted when each level is awarded (0: the level grants no reward)."""

    bronze: int = Field(ge=0)
    silver: int = Field(ge=0)
    gold: int = Field(ge=0)
    platinum: int = Field(ge=0)

    @property
    def values(self) -> tuple[int, int, int, int]:
        return (self.bronze, self.silver, self.gold, self.platinum)


class BadgeBase(Spec):
    key: str = Field(pattern=KEY)
    name: str = Field(min_length=1, max_length=60)
    description: str = Field(min_length=1)
    unit: str = ""  # how the value reads in the app: "GB", "minutes", "days"
    thresholds: Thresholds
    points: Points


class MetricBadge(BadgeBase):
    """A daily metric over the subscriber's whole history up to `as_of`: its total (`sum`) or the number of days on
    which it was above zero (`days`), divided by `divide_by` (e.g. bytes to GB) before comparing with thresholds."""

    source: Literal["metric"]
    metric: str
    aggregate: Literal["sum", "days"] = "sum"
    divide_by: float = Field(default=1.0, gt=0)

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in NUMERIC_METRICS:
            raise ValueError(f"{value!r} is not a numeric daily metric (see docs/features.md)")
        return value


class ScoreBadge(BadgeBase):
    """One of the five behaviour scores (0-100) in the latest scoring snapshot up to `as_of`."""

    source: Literal["score"]
    score: ScoreName


class MissionsBadge(BadgeBase):
    """Missions completed (control-group assignments never count): how many (`missions`) or in how many distinct
    categories (`categories`), optionally only those of one `category`."""

    source: Literal["missions"]
    count: Literal["missions", "categories"] = "missions"
    category: Category | None = None

    @field_validator("category")
    @classmethod
    def _meaningful(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("count") == "categories":
            raise ValueError("counting distinct categories within one category is always 1: remove `category`")
        return value


class StreakBadge(BadgeBase):
    """A streak's length in periods: the `longest` run ever (default) or the `current` one."""

    source: Literal["streak"]
    streak: str = Field(pattern=KEY)
    use: Literal["longest", "current"] = "longest"


Badge = Annotated[MetricBadge | ScoreBadge | MissionsBadge | StreakBadge, Field(discriminator="source")]


class BadgeConfig(Spec):
    version: int = Field(ge=1)
    badges: list[Badge] = Field(min_length=1)

    @field_validator("badges")
    @classmethod
    def _unique(cls, badges: list[Badge]) -> list[Badge]:
        refuse_repeats((b.key for b in badges), "badge key")
        return badges


def load_badges(source: Path | str | dict[str, Any] | None = None) -> BadgeConfig:
    """The badge document from a file, YAML text or a mapping; the shipped badges when None."""
    return load_document(BadgeConfig, DEFAULT if source is None else source, tags=SOURCES, tag_field="source")
