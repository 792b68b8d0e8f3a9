"""Badges with levels (Bronze, Silver, Gold, Platinum) on a metric, a score, missions completed or a streak.

The public face of three modules: the document (`badge_config`), the pure frame functions (`badge_levels`) and the
stage that awards and the app's view (`badge_service`). See docs/badges.md."""

from questline.engine.badge_config import LEVELS, BadgeConfig, load_badges
from questline.engine.badge_levels import levels, new_awards, values
from questline.engine.badge_service import award_badges, subscriber_badges

__all__ = [
    "LEVELS",
    "BadgeConfig",
    "award_badges",
    "levels",
    "load_badges",
    "new_awards",
    "subscriber_badges",
    "values",
]
