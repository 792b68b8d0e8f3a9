"""Leaderboard definitions as a validated document (`leaderboards.yaml`): what is ranked, over which period, within
which scope. A board's period is a span of local dates in the operator's time zone, fixed by `as_of`."""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from questline.kit.documents import load_document
from questline.kit.errors import NotFound
from questline.kit.naming import refuse_repeats
from questline.scoring.config import SCORE_NAMES, ScoreName
from questline.scoring.daily import NUMERIC_METRICS

SHIPPED = Path(__file__).with_name("leaderboards.yaml")
EVERYONE = "everyone"
KEY = r"^[a-z][a-z0-9_]{0,62}$"
COLUMN = r"^[a-z][a-z0-9_]{0,62}$"
SOURCES = ("metric", "score")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

Period = Literal["daily", "weekly", "monthly", "all_time"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BoardBase(Spec):
    key: str = Field(pattern=KEY)
    name: str = Field(min_length=1, max_length=60)
    description: str = ""
    unit: str = ""  # how a value reads in the app: "GB", "days"
    period: Period
    week_starts: Weekday = "monday"
    scope: str = Field(default=EVERYONE, pattern=COLUMN)  # everyone, or a snapshot column ranked within
    size: int = Field(default=10, ge=1, le=1000)  # how many a top listing shows by default
    # Only values strictly above it appear (default: nobody is listed for doing nothing); null lets zeros in too.
    above: float | None = Field(default=0, allow_inf_nan=False)

    @property
    def needs_snapshot(self) -> bool:
        return self.scope != EVERYONE

    def bounds(self, as_of: dt.date) -> tuple[dt.date | None, dt.date | None]:
        """First and last local date of the period holding `as_of` (None for all_time)."""
        if self.period == "daily":
            return as_of, as_of
        if self.period == "weekly":
            start = as_of - dt.timedelta(days=(as_of.weekday() - WEEKDAYS.index(self.week_starts)) % 7)
            return start, start + dt.timedelta(days=6)
        if self.period == "monthly":
            last = calendar.monthrange(as_of.year, as_of.month)[1]
            return as_of.replace(day=1), as_of.replace(day=last)
        return None, None


class MetricBoard(BoardBase):
    """A daily metric added up over the period, divided by `divide_by` (e.g. bytes to GB)."""

    source: Literal["metric"]
    metric: str
    divide_by: float = Field(default=1.0, gt=0, allow_inf_nan=False)

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in NUMERIC_METRICS:
            hint = " (a score? use source: score)" if value in SCORE_NAMES else " (see docs/features.md)"
            raise ValueError(f"{value!r} is not a numeric daily metric{hint}")
        return value

    @property
    def column(self) -> str:
        return self.metric


class ScoreBoard(BoardBase):
    """A behaviour score (0-100) of the latest scoring snapshot: a current value, not a sum, so always all_time."""

    source: Literal["score"]
    score: ScoreName
    period: Literal["all_time"] = "all_time"

    @property
    def column(self) -> str:
        return self.score

    @property
    def needs_snapshot(self) -> bool:
        return True


Board = Annotated[MetricBoard | ScoreBoard, Field(discriminator="source")]


class LeaderboardConfig(Spec):
    version: int = Field(ge=1)
    boards: list[Board] = Field(min_length=1)

    @field_validator("boards")
    @classmethod
    def _unique_keys(cls, boards: list[Board]) -> list[Board]:
        refuse_repeats((b.key for b in boards), "leaderboard key")
        return boards

    def board(self, key: str) -> MetricBoard | ScoreBoard:
        for board in self.boards:
            if board.key == key:
                return board
        raise NotFound(f"no leaderboard {key!r}", field="key")


@functools.cache
def shipped() -> LeaderboardConfig:
    """The shipped boards, read once: the file is part of the package and a document is immutable."""
    return load_leaderboards()


def load_leaderboards(source: Path | str | dict[str, Any] | None = None) -> LeaderboardConfig:
    """The leaderboard document from a file, YAML text or a mapping; the shipped boards when None."""
    return load_document(LeaderboardConfig, SHIPPED if source is None else source, tags=SOURCES, tag_field="source")
