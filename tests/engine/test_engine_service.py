"""The engine on a simulated operator, on SQLite and PostgreSQL: missions generated mid-period progress with the
events that follow, complete for the personas who do the behaviour, reward once (never the control group), announce
themselves in the outbox, and a replay changes nothing."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select

from questline.config import load_settings
from questline.engine.service import run_pending
from questline.engine.stats import stats
from questline.missions.service import run_generation
from questline.models import Assignment, OutboxEvent, ProcessedFile, Reward
from questline.runtime import Runtime
from questline.scoring.service import run_scoring

MIDWAY = dt.date(2026, 10, 14)


@pytest.fixture(scope="module")
def operator(operators: Callable[..., Path]) -> Path:
    """1,000 subscribers x 35 days ingested once, scored as of the middle of the period."""
    base = operators(1000, 35, 3)
    rt = Runtime.open(load_settings(home=base / "home", timezone="Europe/London"))
    run_scoring(rt, MIDWAY)
    rt.db.engine.dispose()
    return base


@pytest.fixture
def ops(operator: Path, on_lake: Callable[[Path], Runtime]) -> Runtime:
    rt = on_lake(operator)
    run_generation(rt, MIDWAY)
    return rt


def assignments(rt: Runtime) -> pl.DataFrame:
    with rt.db.session() as session:
        rows = session.execute(
            select(
                Assignment.id,
                Assignment.subscriber_id,
                Assignment.template_key,
                Assignment.status,
                Assignment.control,
                Assignment.progress,
                Assignment.target,
                Assignment.completed_at,
            )
        ).all()
    columns = ["id", "subscriber_id", "template_key", "status", "control", "progress", "target", "completed_at"]
    return pl.DataFrame(rows, schema=columns, orient="row")


def test_missions_progress_complete_and_reward_once(ops: Runtime, operator: Path) -> None:
    run = run_pending(ops)
    assert run.events > 100_000 and run.completed > 100 and run.expired > 0
    given = assignments(ops)
    assert set(given.get_column("status")) <= {"completed", "expired"}  # every window ended before the wall clock
    done = given.filter(pl.col("status") == "completed")
    assert (done.get_column("progress") >= done.get_column("target")).all()
    assert done.get_column("completed_at").is_not_null().all()
    with ops.db.session() as session:
        rewards = session.execute(select(Reward.key, Reward.points)).all()
        outbox = dict(session.execute(select(OutboxEvent.type, func.count()).group_by(OutboxEvent.type)).all())
    shown = done.filter(~pl.col("control"))
    assert sorted(k for k, _ in rewards) == sorted(f"mission:{i}" for i in shown.get_column("id"))
    assert outbox["mission.completed"] == done.height
    assert outbox["reward.granted"] == len(rewards)
    assert outbox["mission.expired"] == given.filter(pl.col("status") == "expired").height
    assert outbox.get("mission.progressed", 0) > 0


def test_completions_follow_the_personas(ops: Runtime, operator: Path) -> None:
    run_pending(ops)
    personas = json.loads((operator / "feeds" / "truth.json").read_text())["personas"]
    table = pl.DataFrame({"subscriber_id": list(personas), "persona": list(personas.values())})
    given = assignments(ops).join(table, on="subscriber_id")
    rate = given.group_by("persona").agg((pl.col("status") == "completed").mean().alias("done"))
    by = dict(rate.iter_rows())
    assert by["declining"] == min(by.values())  # about to leave: they do least of what they are asked
    assert by["digital_native"] > by["voice_centric"]


def test_a_replay_changes_nothing(ops: Runtime) -> None:
    run_pending(ops)
    before, rewards = stats(ops), _rewards(ops)
    again = run_pending(ops)
    assert (again.batches, again.completed, again.rewards, again.outbox) == (0, 0, 0, 0)
    with ops.db.session() as session:  # as if the files had never been processed: same events, same files
        session.execute(ProcessedFile.__table__.delete())
    assert stats(ops) == before and _rewards(ops) == rewards


def _rewards(rt: Runtime) -> list[Any]:
    with rt.db.session() as session:
        return sorted(session.execute(select(Reward.key, Reward.points)).all())
