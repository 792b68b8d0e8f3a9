"""`questline stats`: what the engine has done, counted from the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from questline.models import Assignment, BadgeAward, Reward, StreakState
from questline.runtime import Runtime

LEVELS = {1: "bronze", 2: "silver", 3: "gold", 4: "platinum"}


def stats(rt: Runtime) -> dict[str, Any]:
    """Missions by status (shown and control), badges by level, streaks per definition, rewards and points."""
    with rt.db.session() as session:
        missions: dict[str, dict[str, int]] = {"shown": {}, "control": {}}
        for status, control, n in session.execute(
            select(Assignment.status, Assignment.control, func.count()).group_by(Assignment.status, Assignment.control)
        ):
            missions["control" if control else "shown"][status] = n
        badges = {
            LEVELS.get(level, str(level)): n
            for level, n in session.execute(select(BadgeAward.level, func.count()).group_by(BadgeAward.level))
        }
        streaks = {
            key: {"subscribers": n, "running": running, "longest": longest}
            for key, n, running, longest in session.execute(
                select(
                    StreakState.streak_key,
                    func.count(),
                    func.count().filter(StreakState.current > 0),
                    func.max(StreakState.longest),
                ).group_by(StreakState.streak_key)
            )
        }
        count, points = session.execute(select(func.count(), func.coalesce(func.sum(Reward.points), 0))).one()
    return {
        "missions": {status: missions["shown"].get(status, 0) for status in ("active", "completed", "expired")}
        | {"control": missions["control"]},
        "badges": {name: badges.get(name, 0) for name in LEVELS.values()},
        "streaks": streaks,
        "rewards": {"granted": count, "points": int(points)},
    }
