"""Configuration documents (YAML files, YAML text or mappings) validated into pydantic models, with the first problem
reported as one `ConfigError` naming the field in the document's own terms (`badges.3.thresholds`)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from questline.kit.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)
Source = Path | str | dict[str, Any]


def read_document(source: Source) -> object:
    """A mapping as it is; a path's or a text's YAML (an empty file is an empty mapping)."""
    if isinstance(source, dict):
        return source
    try:
        text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {source}: {exc}".splitlines()[0], field="file") from None
    return {} if data is None else data


def load_document(model: type[Model], source: Source, *, tags: Collection[str] = (), tag_field: str = "") -> Model:
    """`source` validated as `model`. `tags` are the names of tagged-union members, which pydantic puts in an
    error's path but the document does not have; `tag_field` is the field that picks the member."""
    try:
        return model.model_validate(read_document(source))
    except ValidationError as exc:
        message, where = first_error(exc, tags=tags, tag_field=tag_field)
        raise ConfigError(message, field=where) from None


def first_error(exc: ValidationError, *, tags: Collection[str] = (), tag_field: str = "") -> tuple[str, str]:
    """The first error's message and its path in the document's terms."""
    error = exc.errors()[0]
    loc = [str(p) for p in error["loc"] if not str(p).startswith("function-")]
    # a union's tag comes before the member's own fields, which may share its name (`metric.metric`)
    parts = [p for i, p in enumerate(loc) if p not in tags or (i == len(loc) - 1 and i and loc[i - 1] == p)]
    # a composite's own key repeats in the path (`all.all.0`): the document has it once
    parts = [p for i, p in enumerate(parts) if not (i and p == parts[i - 1] and p in ("all", "any"))]
    if tag_field and error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        parts.append(tag_field)
    return error["msg"].removeprefix("Value error, "), ".".join(parts) or "document"
