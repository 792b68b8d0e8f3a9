"""Streak definitions as validated documents (`streaks.yaml`): which periods qualify, the freezes that forgive missed
ones, and whether outage days are protected. A condition is written in the condition language of segments and
eligibility (`scoring.config.Condition`) over the period's totals of the daily table's metrics. The rules are
described with examples in docs/streaks.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from questline.kit.documents import Source, load_document
from questline.kit.naming import refuse_repeats
from questline.scoring.config import TAGS, Condition
from questline.scoring.daily import NUMERIC_METRICS, empty_daily
from questline.scoring.segments import compile_condition, condition_fields

SHIPPED = Path(__file__).with_name("streaks.yaml")
KEY = r"^[a-z][a-z0-9_]{0,62}$"
OUTAGE = "outage_s"
# Lengths at which a growing streak is announced (`streak.extended`): a push a day to everyone would be noise.
MILESTONES = (3, 7, 14, 30, 60, 100, 180, 365)

Period = Literal["day", "week"]


def _metric_schema() -> pl.Schema:
    """The daily columns a condition may test: the metrics a period adds up (a flag is true when any day's is); not
    the plan, the feature list or the event-type bits."""
    schema = empty_daily().collect_schema()
    return pl.Schema({name: schema[name] for name in NUMERIC_METRICS})


METRIC_SCHEMA = _metric_schema()
METRICS: dict[str, bool] = {name: dtype == pl.Boolean() for name, dtype in METRIC_SCHEMA.items()}  # name: is a flag


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Freezes(Spec):
    """A missed period is forgiven when, counting it, at most `allowed` of the last `per` periods were missed."""

    allowed: int = Field(default=0, ge=0, le=100)
    per: int = Field(default=1, ge=1, le=1000)

    @field_validator("per")
    @classmethod
    def _can_break(cls, per: int, info: ValidationInfo) -> int:
        allowed = info.data.get("allowed")
        if allowed is not None and per <= allowed:
            raise ValueError(f"must be more than allowed ({allowed}), or no streak could ever break")
        return per


class StreakDef(Spec):
    key: str = Field(pattern=KEY)
    name: str = Field(min_length=1)
    description: str = ""
    period: Period
    condition: Condition
    freezes: Freezes = Freezes()
    protect_outages: bool = True
    # Announced when the current streak reaches one of these lengths; null announces every period it grows.
    milestones: list[Annotated[int, Field(ge=1, le=10_000)]] | None = Field(default=list(MILESTONES), min_length=1)

    @field_validator("milestones")
    @classmethod
    def _ascending(cls, milestones: list[int] | None) -> list[int] | None:
        if milestones is not None and milestones != sorted(set(milestones)):
            raise ValueError("must be ascending, each once")
        return milestones

    @property
    def metrics(self) -> list[str]:
        """The daily columns this definition reads, in a stable order."""
        names = condition_fields(self.condition) | ({OUTAGE} if self.protect_outages else set())
        return sorted(names)

    def qualifies(self, where: str = "condition") -> pl.Expr:
        """True for a period whose metrics meet the condition (over the period's totals); a missing one never does."""
        return compile_condition(self.condition, METRIC_SCHEMA, set(), where)

    def protected(self) -> pl.Expr:
        """True for a period that does not qualify but in which the subscriber was in an outage's area."""
        if not self.protect_outages:
            return pl.lit(False)
        return ~self.qualifies() & (pl.col(OUTAGE) > 0)


class StreakConfig(Spec):
    version: int = Field(ge=1)
    streaks: list[StreakDef] = Field(min_length=1)

    @field_validator("streaks")
    @classmethod
    def _unique(cls, streaks: list[StreakDef]) -> list[StreakDef]:
        refuse_repeats((s.key for s in streaks), "streak key")
        return streaks

    @model_validator(mode="after")
    def _conditions_compile(self) -> StreakConfig:
        """Unknown metrics and comparisons of the wrong type, refused at load with the field's path."""
        for i, definition in enumerate(self.streaks):
            definition.qualifies(where=f"streaks.{i}.condition")
        return self

    def get(self, key: str) -> StreakDef | None:
        return next((s for s in self.streaks if s.key == key), None)


# ---- loading -------------------------------------------------------------------------------------------------------


def load_streaks(source: Source | None = None) -> StreakConfig:
    """The streak document from a file, YAML text or a mapping; the shipped definitions when None."""
    return load_document(StreakConfig, SHIPPED if source is None else source, tags=TAGS)
