"""Template x dimensions -> concrete missions. Each concrete mission records its template version and parameters; its
key names the template and the dimension values, so the same variation keeps the same key across runs."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from questline.missions.template import PRODUCT, SEGMENT, Scalar, Template

FROM_OFFERS = "from_offers"  # product dimension value: every product next best offer recommends


@dataclass(frozen=True)
class Mission:
    key: str
    template: Template
    params: dict[str, Any]  # every parameter's value for this variation (before personalisation)
    choice: dict[str, int] = field(default_factory=dict)  # dimension -> index of its value in `dimension_values`

    @property
    def segment(self) -> str | None:
        value = self.params.get(SEGMENT)
        return value if isinstance(value, str) else None


def dimension_values(template: Template, products: Sequence[str]) -> dict[str, list[Scalar]]:
    """Each dimension's values, with `from_offers` replaced by the products next best offer recommends."""
    values: dict[str, list[Scalar]] = {}
    for name, dimension in template.variations.items():
        listed = dimension.values
        if name == PRODUCT and FROM_OFFERS in listed:
            listed = [v for v in listed if v != FROM_OFFERS] + [p for p in products if p not in listed]
        values[name] = list(listed)
    return values


def expand(template: Template, products: Sequence[str] = ()) -> list[Mission]:
    """Every combination of the template's dimension values, in a stable order. No dimensions: one mission."""
    defaults = {name: p.default for name, p in template.parameters.items()}
    values = dimension_values(template, products)
    names = list(values)
    missions = []
    for indices in itertools.product(*(range(len(values[n])) for n in names)):
        chosen = {n: values[n][i] for n, i in zip(names, indices, strict=True)}
        missions.append(
            Mission(
                mission_key(template.key, chosen),
                template,
                {**defaults, **chosen},
                dict(zip(names, indices, strict=True)),
            )
        )
    return missions


def mission_key(template_key: str, chosen: dict[str, Scalar]) -> str:
    if not chosen:
        return template_key
    return template_key + ":" + ",".join(f"{name}={_text(value)}" for name, value in chosen.items())


def _text(value: Scalar) -> str:
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value).lower() if isinstance(value, bool) else str(value)
