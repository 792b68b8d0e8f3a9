"""A mission template: the brain of a family of missions, as a validated document.

A template names its typed parameters, the criteria that complete a mission (the rules language, `questline.rules`),
who is eligible (a condition over the scoring snapshot, as in segments), how targets are personalised from the
subscriber's own history, the variation dimensions it expands along, its reward, duration, cooldown and priority."""

from __future__ import annotations

import itertools
import re
import string
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from questline.kit.documents import first_error
from questline.kit.errors import Invalid
from questline.rules.criteria import Criteria, FieldError, parameters, parse_criteria
from questline.scoring.config import COLUMN, NAME, TAGS, Condition, ScoreName, Spec

Category = Literal["onboarding", "engagement", "revenue", "loyalty", "correction"]
CATEGORIES: tuple[str, ...] = ("onboarding", "engagement", "revenue", "loyalty", "correction")
Scalar = float | int | str | bool
# Dimensions that match a subscriber instead of being picked by a score (see `Dimension`).
SEGMENT, PRODUCT = "segment", "product"
DURATION = "duration"  # a parameter of this name sets the mission's duration in days


class Parameter(Spec):
    type: Literal["number", "integer", "string"]
    default: Scalar
    min: float | None = None
    max: float | None = None
    description: str = ""

    @model_validator(mode="after")
    def _default_fits(self) -> Parameter:
        check(self, self.default, "default")
        return self


def check(parameter: Parameter, value: object, where: str) -> None:
    """Refuse a value of the wrong type or out of the parameter's bounds."""
    if parameter.type == "string":
        if not isinstance(value, str):
            raise FieldError(where, f"{value!r} is not text")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(where, f"{value!r} is not a number")
    if parameter.type == "integer" and value != int(value):
        raise FieldError(where, f"{value!r} is not a whole number")
    if parameter.min is not None and value < parameter.min:
        raise FieldError(where, f"{value} is below the minimum {parameter.min}")
    if parameter.max is not None and value > parameter.max:
        raise FieldError(where, f"{value} is above the maximum {parameter.max}")


class Personalise(Spec):
    """A parameter's value from the subscriber's own history: the `quantile` of their non-zero daily `metric` over the
    last `days` days, times `multiply` (a number or another parameter's name, e.g. a stretch dimension), rounded up
    to the next of the operator's `denominations` (or to a multiple of `step`), then clamped to the parameter's
    bounds. Without history the parameter keeps its (variation's) value."""

    metric: str = Field(pattern=COLUMN)
    quantile: float = Field(default=0.5, ge=0, le=1)
    days: int = Field(default=90, ge=1, le=90)
    multiply: float | str = 1.0
    denominations: list[float] = Field(default_factory=list)
    step: float | None = Field(default=None, gt=0)

    @field_validator("denominations")
    @classmethod
    def _ascending(cls, values: list[float]) -> list[float]:
        if any(b <= a for a, b in itertools.pairwise(values)) or any(v <= 0 for v in values):
            raise ValueError("denominations must be positive and strictly increasing")
        return values


class Dimension(Spec):
    """Values a parameter takes across the template's variations. `segment` and `product` match the subscriber
    (their segment; the product next best offer ranks highest); any other dimension is picked by a score: the
    subscriber's `by` score (0-100) splits into as many equal bands as there are values, lowest band first."""

    values: list[Scalar] = Field(min_length=1)
    by: ScoreName = "engagement"


class Reward(Spec):
    points: int = Field(ge=0)
    badge: str | None = Field(default=None, pattern=NAME)
    offer: str | None = Field(default=None, min_length=1, max_length=100)


class Value(Spec):
    """What a completion is worth to the operator, for ranking: `base` (currency), plus `retention` x the subscriber's
    churn probability x a year of their revenue at the last 30 days' rate (the share of what losing them would cost
    that completing saves - not the churn-discounted lifetime value, which would count the risk twice). The chance
    of completing is the `likelihood` score / 100 (an engaged subscriber completes more) times the template's `rate`
    (how often anyone completes this kind of mission: a referral far less often than a login)."""

    base: float = Field(ge=0)
    retention: float = Field(default=0.0, ge=0, le=1)
    likelihood: ScoreName = "engagement"
    rate: float = Field(default=1.0, gt=0, le=1)


class Template(Spec):
    key: str = Field(pattern=NAME)
    name: str = Field(min_length=1, max_length=100)
    category: Category
    description: str = Field(min_length=1)
    version: int = Field(default=1, ge=1)
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    criteria: dict[str, Any]
    eligibility: Condition | None = None
    personalise: dict[str, Personalise] = Field(default_factory=dict)
    variations: dict[str, Dimension] = Field(default_factory=dict)
    reward: Reward
    value: Value
    duration_days: int = Field(default=7, ge=1, le=62)
    cooldown_days: int = Field(default=0, ge=0)
    priority: int = Field(default=50, ge=1, le=100)
    control_share: float | None = Field(default=None, ge=0, le=0.5)

    @model_validator(mode="after")
    def _consistent(self) -> Template:
        names = set(self.parameters)
        for name in parameters(self.rules()):
            if name not in names:
                raise FieldError("criteria", f"uses {{{name}}} but the template has no parameter {name!r}")
        for name in _placeholders(self.description):
            if name not in names:
                raise FieldError("description", f"{{{name}}} is not a parameter")
        for name, spec in self.personalise.items():
            if name not in names or self.parameters[name].type == "string":
                raise FieldError(f"personalise.{name}", "not a numeric parameter of the template")
            if isinstance(spec.multiply, str) and spec.multiply not in names:
                raise FieldError(f"personalise.{name}.multiply", f"{spec.multiply!r} is not a parameter")
        for name, dimension in self.variations.items():
            if name != SEGMENT and name not in names:
                raise FieldError(f"variations.{name}", "not a parameter of the template")
            if name != SEGMENT:
                for i, value in enumerate(dimension.values):
                    check(self.parameters[name], value, f"variations.{name}.values.{i}")
        if DURATION in names and self.parameters[DURATION].type != "integer":
            raise FieldError(f"parameters.{DURATION}", "the mission's duration must be an integer parameter")
        return self

    def rules(self) -> Criteria:
        return parse_criteria(self.criteria, where="criteria")


def _placeholders(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


UNITS = {"MB": 1e6, "GB": 1e9, "min": 60.0}  # `{bytes:MB}` shows a byte count in megabytes


def render(description: str, params: dict[str, Any]) -> str:
    """The description with its placeholders filled; whole numbers print without decimals."""

    def shown(match: re.Match[str]) -> str:
        name, unit = match.group(1), match.group(2)
        value = params.get(name)
        if value is None:
            return match.group(0)
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = value / UNITS.get(unit or "", 1.0)
            return f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"
        return str(value)

    return re.sub(r"\{(\w+)(?::(\w+))?\}", shown, description)


def parse_template(data: object, *, where: str = "template") -> Template:
    """A validated template, or `Invalid` naming the field at fault (`<where>.<key>.<path>`)."""
    if not isinstance(data, dict):
        raise Invalid("a template must be a mapping", field=where)
    if isinstance(data.get("key"), str):
        where = f"{where}.{data['key']}"
    try:
        return Template.model_validate(data)
    except ValidationError as exc:
        message, field = _error(exc)
        raise Invalid(message, field=f"{where}.{field}" if field else where) from None
    except Invalid as exc:  # from the criteria parser, already naming its path
        raise Invalid(exc.message, field=f"{where}.{exc.field}") from None


def _error(exc: ValidationError) -> tuple[str, str]:
    message, field = first_error(exc, tags=TAGS)
    field = "" if field == "document" else field
    cause = (exc.errors()[0].get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        return cause.reason, ".".join(p for p in (field, cause.field) if p)
    return message, field
