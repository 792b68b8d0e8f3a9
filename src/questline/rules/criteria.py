"""The criteria language: what completes a mission, as a validated document (YAML/JSON) compiled to polars.

A leaf counts matching events with one measure over one window against a target; `all`, `any` and `steps` compose
leaves. Any `target` or `where.value` may be a parameter reference `"{name}"`, filled in per template or per
subscriber. The language is described with examples in docs/criteria.md."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

import polars as pl
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from questline.events.schema import ATTRIBUTES
from questline.events.vocabulary import EVENT_TYPES
from questline.kit.errors import Invalid
from questline.kit.naming import repeated

REF = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")
MAX_DAYS = 64  # day-based measures keep the days of their window in a 64-bit mask
FIELDS: dict[str, pl.DataType] = {**ATTRIBUTES, "value": pl.Float64()}

Measure = Literal["count", "sum", "distinct_days", "distinct_values", "streak", "first", "absence"]
WindowKind = Literal["mission", "rolling", "daily", "weekly", "monthly"]
Op = Literal["eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "is_null", "not_null"]
Scalar = bool | int | float | str

ORDERING = ("gt", "ge", "lt", "le")
MEMBERSHIP = ("in", "not_in")
NULLS = ("is_null", "not_null")
WHOLE = ("count", "distinct_days", "distinct_values", "streak")  # measures whose value is a whole number
PERIOD_DAYS = {"daily": 1, "weekly": 7, "monthly": 31}
DEFAULTS: dict[str, dict[str, object]] = {"absence": {"per": "event"}, "first": {"target": 1}}


def ref_name(value: object) -> str | None:
    """The parameter name when `value` is a reference `"{name}"`, else None."""
    match = REF.match(value) if isinstance(value, str) else None
    return match.group(1) if match else None


class FieldError(ValueError):
    """A check on a model that blames one of its fields: the path reported is the model's path plus `field`."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- the event filter ----------------------------------------------------------------------------------------------


class Predicate(Spec):
    """One attribute test; null attributes match only `is_null`, `ne` and `not_in` (null is not any given value)."""

    field: str
    op: Op
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Predicate:
        if self.field not in FIELDS:
            raise FieldError("field", f"unknown field {self.field!r}: use value or an attribute ({_names(ATTRIBUTES)})")
        if self.op in NULLS:
            if self.value is not None:
                raise FieldError("value", f"{self.op} takes no value")
            return self
        if self.value is None:
            raise FieldError("value", f"{self.op} needs a value")
        if ref_name(self.value) is None:
            _check_value(self.field, self.op, self.value)
        elif self.op in ORDERING and not FIELDS[self.field].is_numeric():
            raise FieldError("op", f"{self.op} compares numbers and {self.field} is not a number")
        return self


def _check_value(field: str, op: str, value: Scalar | list[Scalar]) -> None:
    if op in MEMBERSHIP:
        if not isinstance(value, list) or not value:
            raise FieldError("value", f"{op} needs a non-empty list (or a parameter reference)")
        for i, item in enumerate(value):
            if ref_name(item):
                raise FieldError(f"value.{i}", 'a reference stands for the whole list: write value: "{name}"')
            _check_scalar(field, item, f"value.{i}")
        return
    if isinstance(value, list):
        raise FieldError("value", f"{op} needs a single value, not a list")
    if op in ORDERING and not FIELDS[field].is_numeric():
        raise FieldError("op", f"{op} compares numbers and {field} is not a number")
    _check_scalar(field, value, "value")


def _check_scalar(field: str, value: Scalar, where: str) -> None:
    dtype = FIELDS[field]
    if isinstance(dtype, pl.Enum):
        if value not in dtype.categories.to_list():
            raise FieldError(where, f"{field} is one of {', '.join(dtype.categories.to_list())}, not {value!r}")
    elif dtype == pl.Boolean():
        if not isinstance(value, bool):
            raise FieldError(where, f"{field} is true or false, not {value!r}")
    elif dtype.is_numeric():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldError(where, f"{field} is a number, not {value!r}")
    elif not isinstance(value, str):
        raise FieldError(where, f"{field} is text: write {value!r} in quotes")


def _known_type(name: str) -> str:
    if name not in EVENT_TYPES:
        raise ValueError(f"unknown event type {name!r} (known: {_names(EVENT_TYPES)})")
    return name


class EventFilter(Spec):
    """Events of any of `types` passing every `where` predicate."""

    types: list[Annotated[str, AfterValidator(_known_type)]] = Field(min_length=1)
    where: list[Predicate] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> EventFilter:
        dupes = repeated(self.types)
        if dupes:
            raise FieldError("types", f"listed twice: {', '.join(dupes)}")
        return self


# ---- the window ----------------------------------------------------------------------------------------------------


class Window(Spec):
    """mission: the assignment's [starts_at, ends_at); rolling: the `days` local days ending with as_of's day;
    daily / weekly (Monday to Sunday) / monthly: the calendar period holding as_of. All clipped to the mission."""

    kind: WindowKind = "mission"
    days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _days(self) -> Window:
        if self.kind == "rolling" and self.days is None:
            raise FieldError("days", "a rolling window needs days: N")
        if self.kind != "rolling" and self.days is not None:
            raise FieldError("days", f"only a rolling window takes days, not a {self.kind} one")
        return self

    def max_days(self) -> int | None:
        """The most local days the window can span; None for the mission's own period (known per assignment)."""
        return self.days if self.kind == "rolling" else PERIOD_DAYS.get(self.kind)


# ---- leaves and composites -----------------------------------------------------------------------------------------


class Leaf(Spec):
    events: EventFilter
    measure: Measure
    field: str | None = None
    window: Window = Window()
    target: float | str | None = None
    per: Literal["event", "day"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        # Checked before pydantic's union coercion, so that "50" or true is refused rather than read as a number.
        target = data.get("target")
        if target is not None and (isinstance(target, bool) or not isinstance(target, int | float | str)):
            raise FieldError("target", 'must be a positive number or a parameter reference like "{target}"')
        if isinstance(target, str) and ref_name(target) is None:
            raise FieldError(
                "target", f'must be a positive number or a parameter reference like "{{target}}", not {target!r}'
            )
        measure = data.get("measure")
        defaults = DEFAULTS.get(measure, {}) if isinstance(measure, str) else {}
        return {
            **{k: v for k, v in defaults.items() if data.get(k) is None},
            **{k: v for k, v in data.items() if v is not None},
        }

    @model_validator(mode="after")
    def _consistent(self) -> Leaf:
        _check_field(self)
        _check_per(self)
        _check_target(self)
        _check_days(self)
        return self

    @property
    def column(self) -> str | None:
        """The column the measure reads: `field`, `value` by default for sum, None for measures reading none."""
        return self.field or ("value" if self.measure == "sum" else None)

    @property
    def day_based(self) -> bool:
        """Whether the state keeps a bitmask of the window's days (so the window is limited to 64 days)."""
        return self.measure in ("distinct_days", "streak") or (self.measure == "absence" and self.per == "day")


def _check_field(leaf: Leaf) -> None:
    if leaf.measure == "sum":
        if leaf.field is not None and not (leaf.field in FIELDS and FIELDS[leaf.field].is_numeric()):
            numeric = ", ".join(name for name, dtype in FIELDS.items() if dtype.is_numeric())
            raise FieldError("field", f"sum adds a numeric column ({numeric}), not {leaf.field!r}")
    elif leaf.measure == "distinct_values":
        if leaf.field is None:
            raise FieldError("field", "distinct_values needs the attribute whose values it counts, e.g. field: feature")
        if leaf.field not in FIELDS:
            raise FieldError("field", f"unknown field {leaf.field!r}: use value or an attribute ({_names(ATTRIBUTES)})")
    elif leaf.field is not None:
        raise FieldError("field", f"{leaf.measure} reads no field")


def _check_per(leaf: Leaf) -> None:
    if leaf.measure != "absence" and leaf.per is not None:
        raise FieldError("per", f"per is for absence only, not {leaf.measure}")


def _check_target(leaf: Leaf) -> None:
    target = leaf.target
    if leaf.measure == "absence":
        if target is not None:
            raise FieldError("target", "absence has no target: it completes when its window ends without a violation")
        return
    if leaf.measure == "first":
        if target != 1:
            raise FieldError("target", "first completes on the first matching event: its target is 1")
        return
    if target is None:
        raise FieldError("target", f"{leaf.measure} needs a target")
    if isinstance(target, str):
        return
    if not (math.isfinite(target) and target > 0):
        raise FieldError("target", f"must be a positive number, not {target:g}")
    if leaf.measure in WHOLE and target != int(target):
        raise FieldError("target", f"{leaf.measure} counts whole things: the target must be a whole number")


def _check_days(leaf: Leaf) -> None:
    span = leaf.window.max_days()
    if leaf.day_based and span is not None and span > MAX_DAYS:
        what = f"{leaf.measure} per day" if leaf.measure == "absence" else leaf.measure
        raise FieldError("window.days", f"{what} works on windows of at most {MAX_DAYS} days, not {span}")
    if leaf.measure not in ("distinct_days", "streak") or not isinstance(leaf.target, float):
        return
    limit = MAX_DAYS if span is None else span
    if leaf.target > limit:
        where = f"a {leaf.window.kind} window" if span is None else f"a {leaf.window.kind} window ({span} days)"
        raise FieldError("target", f"{leaf.target:g} days cannot happen in {where}; at most {limit}")


class AllOf(Spec):
    all: list[Criteria] = Field(min_length=1)


class AnyOf(Spec):
    any: list[Criteria] = Field(min_length=1)


class Steps(Spec):
    steps: list[Criteria] = Field(min_length=1)


TAGS = {"all": "AllOf", "any": "AnyOf", "steps": "Steps"}
KEYS: dict[type, str] = {AllOf: "all", AnyOf: "any", Steps: "steps"}


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return next((tag for key, tag in TAGS.items() if key in value), "Leaf")
    return type(value).__name__ if isinstance(value, Leaf | AllOf | AnyOf | Steps) else "Leaf"


Criteria = Annotated[
    Annotated[Leaf, Tag("Leaf")]
    | Annotated[AllOf, Tag("AllOf")]
    | Annotated[AnyOf, Tag("AnyOf")]
    | Annotated[Steps, Tag("Steps")],
    Discriminator(_kind),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
Steps.model_rebuild()
_ADAPTER: TypeAdapter[Criteria] = TypeAdapter(Criteria)


# ---- public functions ----------------------------------------------------------------------------------------------


def parse_criteria(data: object, *, where: str = "criteria") -> Criteria:
    """Validated criteria from a mapping (or YAML/JSON text); `Invalid` naming the field path and the reason."""
    if isinstance(data, str):
        try:
            data = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise Invalid(f"not YAML: {exc}".splitlines()[0], field=where) from None
    if not isinstance(data, dict | Leaf | AllOf | AnyOf | Steps):
        raise Invalid("criteria are a mapping: a leaf (events, measure, target...) or all / any / steps", field=where)
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        message, path = _first_error(exc)
        raise Invalid(message, field=".".join([where, *path])) from None


def children(criteria: Criteria) -> list[Criteria]:
    """The direct children of a composite; none for a leaf."""
    if isinstance(criteria, AllOf):
        return list(criteria.all)
    if isinstance(criteria, AnyOf):
        return list(criteria.any)
    if isinstance(criteria, Steps):
        return list(criteria.steps)
    return []


def leaves(criteria: Criteria, where: str = "criteria") -> Iterator[tuple[str, Leaf]]:
    """Every leaf with its path (`criteria.all.1`), depth first in document order."""
    if isinstance(criteria, Leaf):
        yield where, criteria
        return
    key = KEYS[type(criteria)]
    for i, child in enumerate(children(criteria)):
        yield from leaves(child, f"{where}.{key}.{i}")


def parameters(criteria: Criteria) -> set[str]:
    """The names of the parameter references `"{name}"` the criteria use."""
    names: set[str] = set()
    for _, leaf in leaves(criteria):
        names.update(filter(None, [ref_name(leaf.target), *(ref_name(p.value) for p in leaf.events.where)]))
    return names


def resolve(criteria: Criteria, params: Mapping[str, object]) -> Criteria:
    """The criteria with the given parameters' values in place of their references; others stay references.
    The result is validated again, so a value that does not fit (a negative target...) is refused here."""
    document = _substitute(_ADAPTER.dump_python(criteria, exclude_none=True), params)
    return parse_criteria(document)


def _substitute(node: Any, params: Mapping[str, object]) -> Any:
    if isinstance(node, dict):
        return {
            key: _value_of(value, params) if key in ("target", "value") else _substitute(value, params)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_substitute(item, params) for item in node]
    return node


def _value_of(value: Any, params: Mapping[str, object]) -> Any:
    name = ref_name(value)
    return params[name] if name is not None and name in params else value


# ---- errors --------------------------------------------------------------------------------------------------------

MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field here",
}


def _first_error(exc: ValidationError) -> tuple[str, list[str]]:
    """The first error as (message, path); union tags are dropped and a FieldError's own field is appended."""
    error = exc.errors()[0]
    path = [str(part) for part in error["loc"] if part not in ("Leaf", "AllOf", "AnyOf", "Steps")]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        return cause.reason, [*path, *cause.field.split(".")]
    message = MESSAGES.get(error["type"], error["msg"].removeprefix("Value error, "))
    return message.replace("Input should be ", "must be ").replace("List should have", "must have"), path


def _names(names: Mapping[str, object]) -> str:
    return ", ".join(names)
