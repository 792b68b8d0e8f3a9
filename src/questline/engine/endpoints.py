"""What the app shows a subscriber - badges, streaks, leaderboards - and the engine's counts for operators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from questline.api.deps import require, runtime
from questline.api.keys import Scope
from questline.engine.badges import subscriber_badges
from questline.engine.leaderboards import Listing, around, boards, top
from questline.engine.stats import stats
from questline.engine.streaks import subscriber_streaks
from questline.runtime import Runtime

router = APIRouter(tags=["engine"])
Rt = Annotated[Runtime, Depends(runtime)]
app_scope = [Depends(require(Scope.APP))]
SHOWN = 4  # characters of another subscriber's id a leaderboard shows


@router.get("/v1/subscribers/{subscriber_id}/badges", dependencies=app_scope)
def badges(subscriber_id: str, rt: Rt) -> list[dict[str, Any]]:
    """Every badge: the highest level held, the current value and the progress to the next level."""
    return subscriber_badges(rt, subscriber_id)


@router.get("/v1/subscribers/{subscriber_id}/streaks", dependencies=app_scope)
def streaks(subscriber_id: str, rt: Rt) -> list[dict[str, Any]]:
    """Every streak: current and longest run, and whether today still needs doing."""
    return subscriber_streaks(rt, subscriber_id)


@router.get("/v1/leaderboards", dependencies=app_scope)
def leaderboards(rt: Rt) -> list[dict[str, Any]]:
    """Every board with its metric, period and scope, and its current period."""
    return boards(rt)


@router.get("/v1/leaderboards/{key}", dependencies=app_scope)
def leaderboard(
    key: str,
    rt: Rt,
    around_id: Annotated[str | None, Query(alias="around")] = None,
    k: Annotated[int, Query(ge=0, le=100)] = 5,
    n: Annotated[int | None, Query(ge=1, le=1000)] = None,
    scope: str | None = None,
) -> dict[str, Any]:
    """The top of a board, or with `around=ID` that subscriber's rank and the `k` above and below them. Other
    subscribers' ids are masked to their last characters: the app never learns who they are."""
    listing = around(rt, key, around_id, k) if around_id else top(rt, key, n, scope)
    return _masked(listing, around_id)


def _masked(listing: Listing, viewer: str | None) -> dict[str, Any]:
    body = listing.model_dump(mode="json")
    for entry in [*body["entries"], *([body["subscriber"]] if body.get("subscriber") else [])]:
        if entry["subscriber_id"] != viewer:
            entry["subscriber_id"] = "…" + entry["subscriber_id"][-SHOWN:]
    return body


@router.get("/v1/stats", dependencies=[Depends(require(Scope.ADMIN))])
def engine_stats(rt: Rt) -> dict[str, Any]:
    """Missions by status (shown and control), badges by level, streaks, rewards and points."""
    return stats(rt)
