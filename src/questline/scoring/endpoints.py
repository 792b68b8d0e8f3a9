"""Scores, segments and models over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from questline.api.deps import require, runtime
from questline.api.keys import Scope
from questline.ml import registry
from questline.runtime import Runtime
from questline.scoring import queries, regions

router = APIRouter(tags=["scores"])
Rt = Annotated[Runtime, Depends(runtime)]


@router.get("/v1/subscribers/{subscriber_id}", dependencies=[Depends(require(Scope.APP))])
def subscriber(subscriber_id: str, rt: Rt) -> dict[str, Any]:
    """Profile, the five scores with explanations, segment, churn probability, top offers and lifetime value."""
    return queries.subscriber(rt, subscriber_id)


@router.get("/v1/scores/distribution", dependencies=[Depends(require(Scope.ADMIN))])
def distribution(rt: Rt, bins: Annotated[int, Query(ge=2, le=100)] = 10) -> dict[str, Any]:
    """Per score: mean, quartiles and a histogram, from the latest scoring run."""
    return queries.distribution(rt, bins)


@router.get("/v1/segments", dependencies=[Depends(require(Scope.ADMIN))])
def segments(rt: Rt) -> list[dict[str, Any]]:
    """Every segment with its rule and its size at each scoring run."""
    return queries.segments(rt)


@router.get("/v1/models", dependencies=[Depends(require(Scope.ADMIN))])
def models(rt: Rt, kind: str | None = None) -> list[dict[str, Any]]:
    """Every model version with its metrics, features, training window and whether it is active."""
    return [registry.as_dict(model) for model in registry.list_models(rt, kind)]


@router.get("/v1/regions", dependencies=[Depends(require(Scope.ADMIN))])
def get_regions(rt: Rt) -> dict[str, Any]:
    """The operator's map from location areas (or cells) to regions; empty: every area is its own region."""
    with rt.db.session() as session:
        return {"regions": regions.stored(session).to_dicts()}


@router.put("/v1/regions", dependencies=[Depends(require(Scope.ADMIN))])
def put_regions(
    rt: Rt, document: Annotated[dict[str, Any], Body(description='{"regions": [{"location", "region"}, ...]}')]
) -> dict[str, Any]:
    """Replace the whole map (422 naming the row and field when invalid); the next scoring run uses it."""
    mapping = regions.parse(document)
    with rt.db.session() as session:
        regions.replace(session, mapping)
    return {"regions": len(mapping.regions)}
