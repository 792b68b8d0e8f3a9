"""`POST /v1/events` (CloudEvents in structured, batch and binary mode), event stats and rejects."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from questline.api.deps import body, require, runtime
from questline.api.keys import Scope
from questline.events import envelope, rejects
from questline.events.builtin import HTTP_EVENTS
from questline.events.stats import stats
from questline.kit.errors import Invalid, QuestlineError
from questline.runtime import Runtime
from questline.sources import service
from questline.sources.formats.cloudevents import frame_from_events
from questline.sources.http import ingest_http
from questline.sources.spec import SourceSpec

router = APIRouter(tags=["events"])
Rt = Annotated[Runtime, Depends(runtime)]


@router.post("/v1/events", dependencies=[Depends(require(Scope.INGEST))])
async def post_events(
    request: Request,
    rt: Rt,
    payload: Annotated[bytes, Depends(body)],
    source: Annotated[str, Query(description="CloudEvents source configuration to map with")] = HTTP_EVENTS.name,
) -> dict[str, Any]:
    """Take CloudEvents 1.0: `application/cloudevents+json` (one event), `application/cloudevents-batch+json`
    (a JSON array, answered per item) or binary mode (`ce-*` headers). Spec violations are refused with the rule
    broken; valid events that cannot be mapped are kept in rejects with the reason."""
    spec = _cloudevents_source(rt, source)
    mode = envelope.content_mode(request.headers.get("content-type"), request.headers)
    if mode == "batch":
        items: list[dict[str, Any] | QuestlineError] = list(envelope.from_batch(payload))
    elif mode == "binary":
        items = [envelope.from_binary(request.headers, payload)]
    else:
        items = [envelope.from_structured(payload)]
    valid = [item for item in items if isinstance(item, dict)]
    result, reasons = ingest_http(rt, spec, frame_from_events(valid), location="/v1/events")
    answer: dict[str, Any] = {**result.counts(), "invalid": len(items) - len(valid)}
    if mode == "batch":
        answer["items"] = _per_item(items, reasons)
    return answer


def _per_item(items: list[dict[str, Any] | QuestlineError], rejected: dict[int, str]) -> list[dict[str, Any]]:
    """Each batch item's outcome, in order: accepted, rejected (kept with its reason) or invalid (refused)."""
    answers, position = [], 0
    for index, item in enumerate(items):
        if isinstance(item, QuestlineError):
            answers.append({"index": index, "status": "invalid", **item.as_json()})
            continue
        reason = rejected.get(position)
        answers.append(
            {"index": index, "id": item.get("id"), "status": "rejected" if reason else "accepted"}
            | ({"reason": reason} if reason else {})
        )
        position += 1
    return answers


def _cloudevents_source(rt: Runtime, name: str) -> SourceSpec:
    if name == HTTP_EVENTS.name:
        return HTTP_EVENTS
    with rt.db.session() as session:
        spec = service.get(session, name)
    if spec.format.type != "cloudevents" or not spec.location.http:
        raise Invalid(f"source {name!r} does not take CloudEvents over HTTP", field="source")
    return spec


@router.get("/v1/events/stats", dependencies=[Depends(require(Scope.ADMIN))])
def event_stats(rt: Rt) -> dict[str, Any]:
    """Events in the lake per source kind; rejects per source."""
    return stats(rt)


@router.get("/v1/rejects", dependencies=[Depends(require(Scope.ADMIN))])
def list_rejects(
    rt: Rt,
    source: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    """Rejected records with source, file or endpoint, record position, raw content and reason."""
    with rt.db.session() as session:
        return [r.as_dict() for r in rejects.listing(session, source=source, limit=limit, offset=offset)]
