"""Streak definitions as validated documents (`streaks.yaml`): which periods qualify, the freezes that forgive missed
ones, and whether outage days are protected. Conditions name columns of the daily table and compile to polars.
The rules are described with examples in docs/streaks.md."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator

from questline.kit.documents import Source, load_document
from questline.kit.naming import refuse_repeats
from questline.scoring.daily import METRICS as DAILY_METRICS
from questline.scoring.daily import empty_daily

SHIPPED = Path(__file__).with_name("streaks.yaml")
KEY = r"^[a-z][a-z0-9_]{0,62}$"
OUTAGE = "outage_s"
# Lengths at which a growing streak is announced (`streak.extended`): a push a day to everyone would be noise.
MILESTONES = (3, 7, 14, 30, 60, 100, 180, 365)

Period = Literal["day", "week"]
Op = Literal[">=", ">", "<=", "<", "==", "!="]
_OPS: dict[str, Callable[[pl.Expr, bool | float], pl.Expr]] = {
    ">=": pl.Expr.ge,
    ">": pl.Expr.gt,
    "<=": pl.Expr.le,
    "<": pl.Expr.lt,
    "==": pl.Expr.eq,
    "!=": pl.Expr.ne,
}


def _metric_types() -> dict[str, bool]:
    """The daily columns a condition may test, each with whether it is a flag (true/false) rather than a number.
    Only the aggregated metrics: the plan, the feature list and the event-type bits are not quantities a week sums."""
    schema = empty_daily().collect_schema()
    return {m.name: schema[m.name] == pl.Boolean() for m in DAILY_METRICS}


METRICS: dict[str, bool] = _metric_types()


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Test(Spec):
    """One daily metric compared with a value: `{metric: data_bytes, op: ">=", value: 50000000}`."""

    metric: str
    op: Op
    value: bool | float

    @field_validator("metric")
    @classmethod
    def _known(cls, metric: str) -> str:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}: use a number or flag of the daily table (docs/features.md)")
        return metric

    @field_validator("op")
    @classmethod
    def _op_fits(cls, op: str, info: ValidationInfo) -> str:
        metric = info.data.get("metric")
        if metric is not None and METRICS[metric] and op not in ("==", "!="):
            raise ValueError(f"{metric} is a flag (true or false): use == or !=")
        return op

    @field_validator("value", mode="before")
    @classmethod
    def _value_fits(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, bool | int | float):
            raise ValueError(f"must be a number or true/false, not {value!r}")
        metric = info.data.get("metric")
        if metric is not None and METRICS[metric] != isinstance(value, bool):
            kind = "a flag: compare it with true or false" if METRICS[metric] else f"a number, not {value!r}".lower()
            raise ValueError(f"{metric} is {kind}")
        return value


class AllOf(Spec):
    all: list[Condition] = Field(min_length=1)


class AnyOf(Spec):
    any: list[Condition] = Field(min_length=1)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "all" if "all" in value else "any" if "any" in value else "test"
    return "all" if isinstance(value, AllOf) else "any" if isinstance(value, AnyOf) else "test"


Condition = Annotated[
    Annotated[Test, Tag("test")] | Annotated[AllOf, Tag("all")] | Annotated[AnyOf, Tag("any")],
    Discriminator(_kind),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()


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
        names = set(_metrics_of(self.condition)) | ({OUTAGE} if self.protect_outages else set())
        return sorted(names)

    def qualifies(self) -> pl.Expr:
        """True for a period whose metrics meet the condition (over the period's totals)."""
        return compile_condition(self.condition)

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

    def get(self, key: str) -> StreakDef | None:
        return next((s for s in self.streaks if s.key == key), None)


def _metrics_of(condition: Test | AllOf | AnyOf) -> list[str]:
    if isinstance(condition, Test):
        return [condition.metric]
    parts = condition.all if isinstance(condition, AllOf) else condition.any
    return [m for part in parts for m in _metrics_of(part)]


def compile_condition(condition: Test | AllOf | AnyOf) -> pl.Expr:
    """The condition as a polars expression; a missing metric (null) never qualifies."""
    if isinstance(condition, Test):
        return _OPS[condition.op](pl.col(condition.metric), condition.value).fill_null(False)
    if isinstance(condition, AllOf):
        return reduce(lambda a, b: a & b, (compile_condition(c) for c in condition.all))
    return reduce(lambda a, b: a | b, (compile_condition(c) for c in condition.any))


# ---- loading -------------------------------------------------------------------------------------------------------


def load_streaks(source: Source | None = None) -> StreakConfig:
    """The streak document from a file, YAML text or a mapping; the shipped definitions when None."""
    return load_document(StreakConfig, SHIPPED if source is None else source, tags=("test",))
