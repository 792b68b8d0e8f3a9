"""The FastAPI application: one error handler for the one error root, and each domain's router."""

from __future__ import annotations

import gc

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from questline import __version__
from questline.api import endpoints
from questline.config import load_settings
from questline.kit.errors import QuestlineError
from questline.runtime import Runtime


def create_app(rt: Runtime) -> FastAPI:
    app = FastAPI(title="Questline", version=__version__, description="Gamification engine for mobile operators.")
    app.state.runtime = rt
    app.include_router(endpoints.router)

    @app.exception_handler(QuestlineError)
    async def _questline_error(_: Request, exc: QuestlineError) -> JSONResponse:
        return JSONResponse(exc.as_json(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        return JSONResponse({"error": "Invalid", "message": error["msg"], "field": field}, status_code=422)

    return app


def serving_app() -> FastAPI:
    """The app as each `questline serve` worker process builds it, with the settings from the environment."""
    app = create_app(Runtime.open(load_settings()))
    # Start-up leaves ~150,000 long-lived objects (polars, SQLAlchemy, pydantic); frozen, the collector's full
    # passes skip them: 80-100 ms pauses, several a second under load, become a few ms.
    gc.collect()
    gc.freeze()
    return app
