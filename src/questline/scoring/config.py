"""The scores and segments as validated documents (`scores.yaml`, `segments.yaml`): weights and rules are data.

Column names are checked against the feature table when a document is applied to it (`scores.score`,
`segments.assign`), because the table's columns are only known then."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from questline.kit.documents import load_document
from questline.kit.naming import refuse_repeats

HERE = Path(__file__).parent
TAGS = ("rule",)  # the condition union's tag for a plain rule (`all` / `any` are the document's own keys)
SCORE_NAMES = ("engagement", "revenue", "loyalty", "risk", "digital")


def _score_name(value: str) -> str:
    if value not in SCORE_NAMES:
        raise ValueError(f"{value!r} is not a score ({', '.join(SCORE_NAMES)})")
    return value


ScoreName = Annotated[str, AfterValidator(_score_name)]  # a field naming one of the five scores
COLUMN = r"^[a-z][a-z0-9_]{0,62}$"
NAME = r"^[a-z][a-z0-9_\-]{0,62}$"

# How a missing feature value is treated: replaced by 0 or by the group's median before ranking, or given the
# neutral percentile (0.5, contributes nothing), or the worst one for the score (0 if weighted up, 1 if down).
NullPolicy = Literal["zero", "median", "neutral", "worst"]
Scalar = float | int | str | bool


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- scores --------------------------------------------------------------------------------------------------------


class Band(Spec):
    """A band holds the scores from `min` up to the next band's `min`."""

    name: str = Field(pattern=NAME)
    min: float = Field(ge=0, lt=100)


def _check_bands(bands: list[Band]) -> list[Band]:
    if not bands or bands[0].min != 0:
        raise ValueError("the first band must start at min: 0")
    if any(b.min <= a.min for a, b in itertools.pairwise(bands)):
        raise ValueError("band minimums must be strictly increasing")
    if len({b.name for b in bands}) != len(bands):
        raise ValueError("band names must be unique")
    return bands


Bands = Annotated[list[Band], AfterValidator(_check_bands)]


class Feature(Spec):
    name: str = Field(pattern=COLUMN)
    weight: float
    why: str = Field(min_length=1)
    nulls: NullPolicy = "zero"

    @field_validator("weight")
    @classmethod
    def _usable_weight(cls, weight: float) -> float:
        if weight == 0 or not math.isfinite(weight):
            raise ValueError("weight must be a finite, non-zero number (remove the feature instead)")
        return weight


class Normalise(Spec):
    """Percentile rank (ties averaged) within the whole base, or within each value of a grouping column."""

    method: Literal["percentile"] = "percentile"
    within: str | None = Field(default=None, pattern=COLUMN)


class Score(Spec):
    description: str = ""
    features: list[Feature] = Field(min_length=1)
    normalise: Normalise = Normalise()
    bands: Bands | None = None  # overrides the document's bands for this score

    @field_validator("features")
    @classmethod
    def _unique(cls, features: list[Feature]) -> list[Feature]:
        refuse_repeats((f.name for f in features), "feature")
        return features


class Scores(Spec):
    engagement: Score
    revenue: Score
    loyalty: Score
    risk: Score
    digital: Score


class RiskModel(Spec):
    """When a churn model's output is given, Risk is its probability x 100; `scores.risk` is the fallback."""

    column: str = Field(default="churn_probability", pattern=COLUMN)


class ScoreConfig(Spec):
    version: int = Field(ge=1)
    bands: Bands
    scores: Scores
    risk_model: RiskModel = RiskModel()

    def score(self, name: str) -> Score:
        assert name in SCORE_NAMES, name
        return getattr(self.scores, name)

    def bands_of(self, name: str) -> list[Band]:
        return self.score(name).bands or self.bands


# ---- segments ------------------------------------------------------------------------------------------------------

Op = Literal[">=", "<=", ">", "<", "==", "!=", "in", "between"]
ORDERING = (">=", "<=", ">", "<")


class Ref(Spec):
    """Another column of the same row plus a constant, to compare with: `{field: days_observed, plus: -7}`."""

    field: str = Field(pattern=COLUMN)
    plus: float = 0


class Rule(Spec):
    field: str = Field(pattern=COLUMN)
    op: Op
    value: Ref | Scalar | list[Scalar]

    @model_validator(mode="after")
    def _value_fits_op(self) -> Rule:
        if self.op == "in" and not (isinstance(self.value, list) and self.value):
            raise ValueError("value: `in` needs a non-empty list")
        if self.op == "between":
            if not (isinstance(self.value, list) and len(self.value) == 2 and all(map(_is_number, self.value))):
                raise ValueError("value: `between` needs a list of two numbers [low, high]")
            if self.value[0] > self.value[1]:  # type: ignore[operator]
                raise ValueError("value: `between` needs low <= high")
        if self.op not in ("in", "between") and isinstance(self.value, list):
            raise ValueError(f"value: `{self.op}` needs a single value, not a list")
        if isinstance(self.value, Ref) and self.op not in ORDERING:
            raise ValueError(f"value: `{self.op}` cannot compare with another column; use >=, <=, > or <")
        if self.op in ORDERING and not (_is_number(self.value) or isinstance(self.value, Ref)):
            raise ValueError(f"value: `{self.op}` needs a number or {{field: column}}")
        return self


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class AllOf(Spec):
    all: list[Condition] = Field(min_length=1)


class AnyOf(Spec):
    any: list[Condition] = Field(min_length=1)


def _condition_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "all" if "all" in value else "any" if "any" in value else "rule"
    return "all" if isinstance(value, AllOf) else "any" if isinstance(value, AnyOf) else "rule"


Condition = Annotated[
    Annotated[Rule, Tag("rule")] | Annotated[AllOf, Tag("all")] | Annotated[AnyOf, Tag("any")],
    Discriminator(_condition_kind),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()


class Segment(Spec):
    name: str = Field(pattern=NAME)
    label: str = Field(min_length=1)
    description: str = ""
    when: Condition


class Fallback(Spec):
    name: str = Field(pattern=NAME)
    label: str = Field(min_length=1)
    description: str = ""


class SegmentConfig(Spec):
    """Ordered rules, first match wins; who matches none falls back. Fields listed in `optional` (ML outputs that
    may not be produced yet) may be absent from the table: rules over them then never match."""

    version: int = Field(ge=1)
    optional: list[Annotated[str, Field(pattern=COLUMN)]] = Field(default_factory=list)
    segments: list[Segment] = Field(min_length=1)
    fallback: Fallback

    @model_validator(mode="after")
    def _unique_names(self) -> SegmentConfig:
        refuse_repeats([*(s.name for s in self.segments), self.fallback.name], "segments: name")
        return self

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.segments] + [self.fallback.name]


# ---- loading -------------------------------------------------------------------------------------------------------


def load_scores(source: Path | str | dict[str, Any] | None = None) -> ScoreConfig:
    """The score document from a file, YAML text or a mapping; the shipped defaults when None."""
    return load_document(ScoreConfig, HERE / "scores.yaml" if source is None else source, tags=TAGS)


def load_segments(source: Path | str | dict[str, Any] | None = None) -> SegmentConfig:
    """The segment document from a file, YAML text or a mapping; the shipped defaults when None."""
    return load_document(SegmentConfig, HERE / "segments.yaml" if source is None else source, tags=TAGS)
