"""Behaviour scoring: subscriber-day aggregates (`daily`), windowed features (`features`), scores and segments."""

from questline.scoring.daily import DAILY_METRICS, daily_metrics, refresh_daily, scan_daily

__all__ = ["DAILY_METRICS", "daily_metrics", "refresh_daily", "scan_daily"]
