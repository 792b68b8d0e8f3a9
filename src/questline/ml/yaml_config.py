"""A model's YAML configuration read into its pydantic model; every problem is reported with the field it concerns."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from questline.kit.errors import ConfigError

Config = TypeVar("Config", bound=BaseModel)


def read_config(model: type[Config], path: Path, what: str) -> Config:
    """`path` validated as `model`; an empty file gives the defaults. `what` names the document in errors."""
    try:
        return model.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the {what} configuration: {exc}".splitlines()[0], field="file") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(error["msg"], field=".".join(str(p) for p in error["loc"]) or "document") from None
