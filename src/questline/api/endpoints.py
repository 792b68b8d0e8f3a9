"""Every router of the API, and the health check (the one endpoint without a key)."""

from fastapi import APIRouter

from questline.engine.endpoints import router as engine
from questline.events.endpoints import router as events
from questline.missions.endpoints import router as missions
from questline.scoring.endpoints import router as scores
from questline.sources.endpoints import router as sources

router = APIRouter()
router.include_router(events)
router.include_router(sources)
router.include_router(scores)
router.include_router(missions)
router.include_router(engine)


@router.get("/healthz", tags=["ops"])
def healthz() -> dict[str, str]:
    return {"status": "ok"}
