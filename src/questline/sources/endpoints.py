"""`POST /v1/sources/{name}/records` and the read-only source listing."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends

from questline.api.deps import body, require, runtime
from questline.api.keys import Scope
from questline.kit.errors import Invalid
from questline.runtime import Runtime
from questline.sources import service
from questline.sources.http import ingest_http, records_frame

router = APIRouter(tags=["sources"])
Rt = Annotated[Runtime, Depends(runtime)]


@router.post("/v1/sources/{name}/records", dependencies=[Depends(require(Scope.INGEST))])
def post_records(name: str, rt: Rt, payload: Annotated[bytes, Depends(body)]) -> dict[str, Any]:
    """Raw records (a JSON array of objects) for a configured source, run through its mapping."""
    with rt.db.session() as session:
        spec = service.get(session, name)
    records = _records(payload)
    result, reasons = ingest_http(rt, spec, records_frame(records), location=f"/v1/sources/{name}/records")
    rejected = [{"index": i, "reason": r} for i, r in sorted(reasons.items())]
    return {**result.counts(), "rejects": rejected}


def _records(payload: bytes) -> list[dict[str, Any]]:
    try:
        records = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"body is not JSON: {exc}", field="body") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise Invalid("body must be a JSON array of objects", field="body")
    if not records:
        raise Invalid("body holds no records", field="body")
    return records


@router.get("/v1/sources", dependencies=[Depends(require(Scope.ADMIN))])
def list_sources(rt: Rt) -> list[dict[str, Any]]:
    with rt.db.session() as session:
        return service.summaries(session)


@router.get("/v1/sources/{name}", dependencies=[Depends(require(Scope.ADMIN))])
def show_source(name: str, rt: Rt) -> dict[str, Any]:
    with rt.db.session() as session:
        return service.get(session, name).model_dump(mode="json", exclude_none=True)
