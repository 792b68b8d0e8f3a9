"""Templates, missions and generation over HTTP; a subscriber's missions for the app."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from questline.api.deps import require, runtime
from questline.api.keys import Scope
from questline.kit.errors import Invalid
from questline.missions import queries, templates
from questline.missions.service import run_generation
from questline.runtime import Runtime

router = APIRouter(tags=["missions"])
Rt = Annotated[Runtime, Depends(runtime)]
Document = Annotated[dict[str, Any], Body(description="A mission template document (see docs/missions.md).")]
admin = [Depends(require(Scope.ADMIN))]


def _document(saved: templates.Saved) -> dict[str, Any]:
    return saved.template.model_dump(mode="json", exclude_none=True) | {"outcome": saved.outcome}


@router.get("/v1/templates", dependencies=admin)
def list_templates(rt: Rt) -> list[dict[str, Any]]:
    """Every template (latest version) with its category, parameters and variation dimensions."""
    return queries.templates(rt)


@router.get("/v1/templates/{key}", dependencies=admin)
def get_template(key: str, rt: Rt) -> dict[str, Any]:
    """One template's whole document."""
    return templates.get(rt, key).model_dump(mode="json", exclude_none=True)


@router.post("/v1/templates", dependencies=admin, status_code=201)
def create_template(document: Document, rt: Rt) -> dict[str, Any]:
    """Add a template (409 if the key exists; 422 naming the field when invalid)."""
    return _document(templates.save(rt, document, create=True))


@router.put("/v1/templates/{key}", dependencies=admin)
def update_template(key: str, document: Document, rt: Rt) -> dict[str, Any]:
    """A new version of a template (unchanged documents keep their version)."""
    if document.get("key", key) != key:
        raise Invalid(f"the document's key {document.get('key')!r} is not {key!r}", field="key")
    return _document(templates.save(rt, {**document, "key": key}, create=False))


@router.get("/v1/missions", dependencies=admin)
def list_missions(rt: Rt, template: str | None = None) -> list[dict[str, Any]]:
    """Active concrete missions and how many subscribers hold each (shown / control)."""
    return queries.missions(rt, template)


@router.post("/v1/missions/generate", dependencies=admin)
def generate(rt: Rt, as_of: dt.date | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Generate missions from the latest (or the given) scoring run; `dry_run` reports without assigning."""
    return run_generation(rt, as_of, dry_run=dry_run).as_dict()


@router.get("/v1/subscribers/{subscriber_id}/missions", dependencies=[Depends(require(Scope.APP))])
def subscriber_missions(subscriber_id: str, rt: Rt) -> list[dict[str, Any]]:
    """The subscriber's active missions (control-group assignments are never shown)."""
    return queries.subscriber_missions(rt, subscriber_id)
