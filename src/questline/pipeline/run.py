"""The running system: sources → lake → mission progress, and once a day scoring → missions.

`run_once` processes everything pending and returns; `run_forever` repeats the cycle every `poll_seconds`, syncing
only the sources whose schedule is due, runs the daily stage once the operator's local clock passes `daily_at`, and
stops between cycles on SIGTERM or SIGINT (a cycle in progress finishes first: every batch is one transaction, so
nothing is lost either way)."""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Callable
from typing import Any

import polars as pl

from questline.engine.badges import award_badges
from questline.engine.leaderboards import refresh_leaderboards
from questline.engine.service import run_pending
from questline.engine.streaks import update_streaks
from questline.kit.time import utcnow
from questline.missions.service import run_generation
from questline.runtime import Runtime
from questline.scoring.daily import refresh_daily, scan_daily
from questline.scoring.service import SNAPSHOTS, run_scoring
from questline.sources.sync import sync

Report = Callable[[dict[str, Any]], None]


def run_once(rt: Runtime, *, now: dt.datetime | None = None, due_only: bool = False) -> dict[str, Any]:
    """One cycle: sync sources, fold new events into progress, run the daily stage if a day is waiting for it."""
    now = now or utcnow()
    synced = sync(rt, due_at=now if due_only else None)
    engine = run_pending(rt, now=now)
    cycle: dict[str, Any] = {
        "synced": {name: result.events for name, result in synced.items()},
        "engine": engine.as_dict(),
    }
    day = day_to_score(rt, now)
    if day is not None:
        cycle["daily"] = daily_stage(rt, day, now)
    cycle["gamification"] = gamification_stage(rt, now)
    return cycle


def day_to_score(rt: Runtime, now: dt.datetime) -> dt.date | None:
    """The latest local day with events but no scoring run, up to yesterday in the operator's time zone (today is
    not over); None when it is scored already."""
    yesterday = now.astimezone(rt.settings.tz).date() - dt.timedelta(days=1)
    latest = scan_daily(rt.lake).filter(pl.col("date") <= yesterday).select(pl.col("date").max()).collect().item()
    if latest is None:
        return None
    return None if latest in _scored_days(rt) else latest


def _scored_days(rt: Runtime) -> set[dt.date]:
    return {dt.date.fromisoformat(value) for value in rt.lake.partitions(SNAPSHOTS)}


def daily_stage(rt: Runtime, day: dt.date, now: dt.datetime) -> dict[str, Any]:
    """Scores as of `day`, then personal missions from them (starting the next local day)."""
    scoring = run_scoring(rt, day)
    generation = run_generation(rt, day)
    engine = run_pending(rt, now=now)  # missions that started in the past may already have events
    return {
        "as_of": day.isoformat(),
        "subscribers": scoring.subscribers,
        "missions_assigned": generation.assigned,
        "engine": engine.as_dict(),
    }


def gamification_stage(rt: Runtime, now: dt.datetime) -> dict[str, Any]:
    """Streaks, badges and leaderboards from the daily table, the scores and the completed missions."""

    refresh_daily(rt.lake, rt.events)
    today = now.astimezone(rt.settings.tz).date()
    latest = scan_daily(rt.lake).select(pl.col("date").max()).collect().item()
    as_of = min(today, latest) if latest is not None else today
    return {
        "streaks": update_streaks(rt, as_of),
        "badges": award_badges(rt, as_of),
        "leaderboards": refresh_leaderboards(rt, as_of),
    }


def run_forever(rt: Runtime, *, poll_seconds: float, report: Report, stop: threading.Event | None = None) -> None:
    """Cycle until SIGTERM / SIGINT (or `stop`): a due-sources sync and the engine every cycle; the daily stage
    once the local clock passes the configured time."""
    stop = stop or threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.is_set():
            now = utcnow()
            cycle = run_once(rt, now=now, due_only=True) if _daily_due(rt, now) else _light_cycle(rt, now)
            report(cycle)
            stop.wait(poll_seconds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _daily_due(rt: Runtime, now: dt.datetime) -> bool:
    local = now.astimezone(rt.settings.tz)
    return local.time() >= rt.settings.daily_at


def _light_cycle(rt: Runtime, now: dt.datetime) -> dict[str, Any]:
    synced = sync(rt, due_at=now)
    return {"synced": {n: r.events for n, r in synced.items()}, "engine": run_pending(rt, now=now).as_dict()}
