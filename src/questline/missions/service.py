"""A generation run: templates → concrete missions → profiles (scoring snapshot + history) → assignments.

Storage happens around the pure generator: the run reads the latest scoring snapshot and offers from the lake, what
subscribers hold from the database, and writes the new assignments (not in a dry run)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from questline.kit.errors import Invalid
from questline.missions import templates as store
from questline.missions.generator import HELD_SCHEMA, ID, MONTHLY_REVENUE, Policy, generate, local_start
from questline.missions.history import history, is_history_column
from questline.missions.template import Template
from questline.missions.variations import Mission, expand
from questline.models import Assignment
from questline.models import Mission as MissionRow
from questline.runtime import Runtime
from questline.scoring.daily import scan_daily
from questline.scoring.segments import condition_fields
from questline.scoring.service import OFFERS, PARTITION, snapshot

ACTIVE = "active"


@dataclass(frozen=True)
class GenerationRun:
    as_of: dt.date
    dry_run: bool
    subscribers: int  # in the scoring snapshot
    missions: int  # concrete missions in the catalogue
    assigned: int  # new assignments, control group included
    control: int
    by_mission: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "subscribers": self.subscribers,
            "missions": self.missions,
            "assigned": self.assigned,
            "control": self.control,
            "by_mission": self.by_mission,
        }


def policy_of(rt: Runtime) -> Policy:
    s = rt.settings
    return Policy(s.max_active_missions, s.max_missions_per_category, s.control_share, s.point_value, s.base_churn)


def run_generation(rt: Runtime, as_of: dt.date | None = None, *, dry_run: bool = False) -> GenerationRun:
    scores = snapshot(rt, as_of=as_of).collect()
    if scores.is_empty():
        raise Invalid(f"no scoring run for {as_of}: run `questline score --as-of {as_of}`", field="as_of")
    as_of = scores.item(0, PARTITION)
    offers = snapshot(rt, OFFERS, as_of).collect()
    catalogue = store.current(rt)
    missions = concrete_missions(catalogue, offers)
    profiles = build_profiles(rt, scores, catalogue, as_of)
    start = local_start(as_of, rt.settings.timezone)
    with rt.db.session() as session:
        _sync_missions(session, missions)
        held = _held(session, start)
        assigned = generate(
            profiles, offers, missions, held, as_of=as_of, timezone=rt.settings.timezone, policy=policy_of(rt)
        )
        if not dry_run:
            _store(session, assigned, as_of)
    return GenerationRun(
        as_of,
        dry_run,
        scores.height,
        len(missions),
        assigned.height,
        int(assigned.get_column("control").sum()),
        report(assigned, missions),
    )


def concrete_missions(catalogue: list[Template], offers: pl.DataFrame) -> list[Mission]:
    products = offers.get_column("product").unique().sort().to_list() if offers.height else []
    return [mission for template in catalogue for mission in expand(template, products)]


def build_profiles(rt: Runtime, scores: pl.DataFrame, catalogue: list[Template], as_of: dt.date) -> pl.DataFrame:
    """The scoring snapshot with the history columns the templates' eligibility rules and personalisation read."""
    wanted = {f for t in catalogue if t.eligibility for f in condition_fields(t.eligibility) if is_history_column(f)}
    wanted.add(MONTHLY_REVENUE)
    stats = [spec for t in catalogue for spec in t.personalise.values()]
    past = history(scan_daily(rt.lake), as_of, wanted, stats)
    profiles = scores.join(past, on=ID, how="left")
    flags = [c for c in past.columns if c.startswith("ever_")]
    return profiles.with_columns(
        pl.col(flags).fill_null(False),
        pl.col(wanted - set(flags)).fill_null(0.0),
        ((365 - pl.col("tenure_days") % 365) % 365).alias("days_to_anniversary"),
    )


def _sync_missions(session: Session, missions: list[Mission]) -> None:
    """The catalogue's concrete missions as rows: new ones added, changed ones updated, vanished ones inactive."""
    stored = {row.key: row for row in session.scalars(select(MissionRow))}
    for mission in missions:
        fields = {
            "template_key": mission.template.key,
            "template_version": mission.template.version,
            "category": mission.template.category,
            "params": mission.params,
            "active": True,
        }
        row = stored.pop(mission.key, None)
        if row is None:
            session.add(MissionRow(key=mission.key, **fields))
        elif any(getattr(row, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(row, k, v)
    if stored:
        session.execute(update(MissionRow).where(MissionRow.key.in_(list(stored))).values(active=False))


def _held(session: Session, start: dt.datetime) -> pl.DataFrame:
    """Assignments that still matter at `start`: the active ones, and the recent ones for cooldowns."""
    recent = start - dt.timedelta(days=400)  # longer than any cooldown a template is likely to have
    rows = session.execute(
        select(
            Assignment.subscriber_id,
            Assignment.template_key,
            Assignment.category,
            Assignment.ends_at,
            Assignment.status,
        ).where(Assignment.ends_at >= recent)
    ).all()
    frame = pl.DataFrame(
        [(r[0], r[1], r[2], _utc(r[3]), r[4] == ACTIVE and _utc(r[3]) > start) for r in rows],
        schema=HELD_SCHEMA,
        orient="row",
    )
    return frame


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _store(session: Session, assigned: pl.DataFrame, as_of: dt.date) -> None:
    rows = assigned.with_columns(pl.lit(ACTIVE).alias("status"), pl.lit(as_of).alias("generated_as_of")).drop(
        "priority", "reward_cost"
    )
    records = rows.to_dicts()
    for record in records:
        record["params"] = json.loads(record["params"])
    for start in range(0, len(records), 20_000):
        session.execute(insert(Assignment), records[start : start + 20_000])


def report(assigned: pl.DataFrame, missions: list[Mission]) -> list[dict[str, Any]]:
    """Per concrete mission: subscribers shown it, held out in control, and the expected reward cost and value of
    the shown ones. Missions nobody gets are listed with zeros."""
    shown = ~pl.col("control")
    catalogue = pl.DataFrame(
        {
            "mission_key": [m.key for m in missions],
            "template_key": [m.template.key for m in missions],
            "category": [m.template.category for m in missions],
        },
        schema={"mission_key": pl.String, "template_key": pl.String, "category": pl.String},
    )
    counted = assigned.group_by("mission_key").agg(
        shown.sum().alias("subscribers"),
        pl.col("control").sum().alias("control"),
        pl.col("reward_cost").filter(shown).sum().round(2).alias("expected_reward_cost"),
        pl.col("expected_value").filter(shown).sum().round(2).alias("expected_value"),
    )
    joined = catalogue.join(counted, on="mission_key", how="left", maintain_order="left")
    return joined.fill_null(0).to_dicts()
