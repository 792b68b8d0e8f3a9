"""Request dependencies: the runtime, the caller's key and scope, and a size-limited body."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from questline.api import keys
from questline.kit.errors import PayloadTooLarge
from questline.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def require(scope: keys.Scope) -> Callable[[Request], None]:
    # A plain function: FastAPI runs it in its thread pool, so the key lookup never blocks the event loop.
    def check(request: Request) -> None:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        with runtime(request).db.session() as session:
            keys.authorize(session, token, scope)

    return check


async def body(request: Request) -> bytes:
    """The request body, refused with 413 past the configured limit (checked as it streams in, too)."""
    limit = runtime(request).settings.max_request_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body over the {limit}-byte limit", field="body")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body over the {limit}-byte limit", field="body")
        chunks.append(chunk)
    return b"".join(chunks)
