"""Scores, segments and models over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from questline.api.deps import require, runtime
from questline.api.keys import Scope
from questline.ml import registry
from questline.runtime import Runtime
from questline.scoring import queries

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
