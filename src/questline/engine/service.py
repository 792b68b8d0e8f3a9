"""The engine run: every event-lake file not yet folded into mission progress, one local day (partition) per batch,
in date order; then the missions whose window has ended are settled (completed, e.g. an absence, or expired).

Each batch is one transaction: the assignments' progress and leaf states, completions, rewards, outbox events and
the record of the files processed are written together, so a crash or a replay never counts an event twice.
Control-group assignments progress like the others (that is what uplift is measured against) but earn nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from questline.engine import state as stored
from questline.engine.progress import Version, advance, affected, settle, state_key
from questline.events.outbox import emit
from questline.events.schema import EVENT_SCHEMA
from questline.events.store import PARTITION as EVENT_DATE
from questline.events.store import TABLE as EVENTS
from questline.kit.time import utcnow
from questline.missions.template import parse_template
from questline.models import Assignment, MissionTemplate, ProcessedFile, Reward
from questline.rules.criteria import Criteria, leaves
from questline.runtime import Runtime

ACTIVE, COMPLETED, EXPIRED = "active", "completed", "expired"
QUARTERS = 4  # `mission.progressed` is emitted when progress crosses a quarter
BATCH_FILES = 64  # lake files folded per batch (a day's files from every source is 10-20)


@dataclass
class EngineRun:
    batches: int = 0
    events: int = 0
    progressed: int = 0
    completed: int = 0
    expired: int = 0
    rewards: int = 0
    outbox: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Loaded:
    """The assignments the engine may move, with their criteria and stored states."""

    frame: pl.DataFrame  # assignment_id, subscriber_id, template_key, template_version, starts_at, ends_at, p_*
    rows: dict[int, dict[str, Any]]  # assignment_id -> status, control, progress, fraction, state, reward…
    criteria: dict[Version, Criteria]
    rewards: dict[Version, dict[str, Any]] = field(default_factory=dict)


def run_pending(rt: Runtime, *, now: dt.datetime | None = None) -> EngineRun:
    """Fold every pending event file into progress, then settle ended missions."""
    now = now or utcnow()
    run = EngineRun()
    for files in batches(pending_files(rt)):
        batch = pl.concat([_read(rt, partition, names) for partition, names in files.items()])
        with rt.db.session() as session:
            subscribers = batch.get_column("subscriber_id").unique().to_list()
            loaded = _load(session, _day_start(rt, min(files)), subscribers=subscribers)
            _fold(rt, session, loaded, batch, max(now, _latest(batch) + dt.timedelta(microseconds=1)), run)
            session.add_all(ProcessedFile(partition=p, file=name) for p, names in files.items() for name in names)
        run.batches += 1
        run.events += batch.height
    with rt.db.session() as session:
        _settle_ended(rt, session, now, run)
    return run


def batches(pending: dict[str, list[str]], files_per_batch: int = BATCH_FILES) -> list[dict[str, list[str]]]:
    """Consecutive days' files grouped into batches: many small days (a customer extract's old activation dates)
    make one batch, not one transaction each. Any grouping gives the same progress."""
    grouped: list[dict[str, list[str]]] = [{}]
    for day, names in pending.items():
        if sum(map(len, grouped[-1].values())) >= files_per_batch:
            grouped.append({})
        grouped[-1][day] = names
    return [g for g in grouped if g]


def _fold(
    rt: Runtime, session: Session, loaded: Loaded, batch: pl.DataFrame, as_of: dt.datetime, run: EngineRun
) -> None:
    touched = affected(batch, loaded.frame)
    if touched.is_empty():
        return
    progressed = advance(
        batch,
        loaded.frame,
        loaded.criteria,
        _states(loaded, touched),
        as_of=as_of,
        timezone=rt.settings.timezone,
        history=_history(rt),
        touched=touched,
    )
    _apply(session, loaded, progressed.results, progressed.states, run)


def _day_start(rt: Runtime, day: str) -> dt.datetime:
    local = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), tzinfo=rt.settings.tz)
    return local.astimezone(dt.UTC)


def pending_files(rt: Runtime) -> dict[str, list[str]]:
    """Per event date, the lake files not yet processed, oldest date first."""
    with rt.db.session() as session:
        done = {(p, f) for p, f in session.execute(select(ProcessedFile.partition, ProcessedFile.file))}
    found = rt.lake.partition_files(EVENTS, EVENT_DATE)
    pending = {day: [f for f in files if (day, f) not in done] for day, files in found.items()}
    return {day: files for day, files in pending.items() if files}


def _read(rt: Runtime, partition: str, files: list[str]) -> pl.DataFrame:
    base = rt.lake.root / EVENTS / f"{EVENT_DATE}={partition}"
    frame = pl.read_parquet([base / name for name in files])
    return frame.select(pl.col(n).cast(t) for n, t in EVENT_SCHEMA.items())


def _latest(batch: pl.DataFrame) -> dt.datetime:
    last = batch.get_column("event_time").max()
    return last if isinstance(last, dt.datetime) else utcnow()


# ---- loading -------------------------------------------------------------------------------------------------------


def _load(
    session: Session, since: dt.datetime, *, subscribers: list[str] | None = None, ended_by: dt.datetime | None = None
) -> Loaded:
    """The active assignments of `subscribers`, and their expired ones that ended after `since` (a late event may
    still complete them); or, with `ended_by`, every active one that ended by then (to settle)."""
    query = select(Assignment)
    if ended_by is None:
        late = (Assignment.status == EXPIRED) & (Assignment.ends_at > since)  # the batch's events may fall inside
        query = query.where(or_(Assignment.status == ACTIVE, late))
    else:
        query = query.where(Assignment.status == ACTIVE, Assignment.ends_at <= ended_by)
    rows: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(subscribers) if subscribers is not None else [None]:
        chosen = query if chunk is None else query.where(Assignment.subscriber_id.in_(chunk))
        rows |= {a.id: _row(a) for a in session.scalars(chosen)}
    versions = {(r["template_key"], r["template_version"]) for r in rows.values()}
    documents = _templates(session, versions)
    criteria = {v: parse_template(d).rules() for v, d in documents.items()}
    rewards = {v: d.get("reward", {}) for v, d in documents.items()}
    return Loaded(_frame(rows), rows, criteria, rewards)


def _chunks(values: list[str], size: int = 5_000) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _row(a: Assignment) -> dict[str, Any]:
    return {
        "subscriber_id": a.subscriber_id,
        "template_key": a.template_key,
        "template_version": a.template_version,
        "mission_key": a.mission_key,
        "starts_at": _utc(a.starts_at),
        "ends_at": _utc(a.ends_at),
        "params": a.params,
        "status": a.status,
        "control": a.control,
        "fraction": a.fraction,
        "reward_points": a.reward_points,
        "state": a.state,
    }


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _templates(session: Session, versions: set[Version]) -> dict[Version, dict[str, Any]]:
    keys = {key for key, _ in versions}
    found = session.execute(
        select(MissionTemplate.key, MissionTemplate.version, MissionTemplate.document).where(
            MissionTemplate.key.in_(keys)
        )
    ).all()
    return {(k, v): dict(d) for k, v, d in found if (k, v) in versions}


def _frame(rows: dict[int, dict[str, Any]]) -> pl.DataFrame:
    """The assignments as the progress stage takes them, parameters as `p_<name>` columns."""
    base = pl.DataFrame(
        {
            "assignment_id": list(rows),
            "subscriber_id": [r["subscriber_id"] for r in rows.values()],
            "template_key": [r["template_key"] for r in rows.values()],
            "template_version": [r["template_version"] for r in rows.values()],
            "starts_at": [r["starts_at"] for r in rows.values()],
            "ends_at": [r["ends_at"] for r in rows.values()],
        },
        schema={
            "assignment_id": pl.UInt64,
            "subscriber_id": pl.String,
            "template_key": pl.String,
            "template_version": pl.Int64,
            "starts_at": pl.Datetime("us", "UTC"),
            "ends_at": pl.Datetime("us", "UTC"),
        },
    )
    names = sorted({name for r in rows.values() for name in r["params"]})
    params = {f"p_{name}": pl.Series([r["params"].get(name) for r in rows.values()], strict=False) for name in names}
    return base.with_columns(**params) if params else base


def _states(loaded: Loaded, touched: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The stored leaf states of the touched assignments, per state key (each document parsed once)."""
    frames: dict[str, pl.DataFrame] = {}
    for (key, number), group in touched.partition_by("template_key", "template_version", as_dict=True).items():
        version = (str(key), int(number))
        ids = group.get_column("assignment_id").to_list()
        documents = [(i, loaded.rows[i]["state"]) for i in ids if loaded.rows[i]["state"]]
        for path, leaf in leaves(loaded.criteria[version]):
            name = state_key(version, path)
            frames[name] = stored.decode(documents, name, stored.state_schema(leaf))
    return frames


def _history(rt: Runtime) -> Any:
    def events_of(missions: pl.DataFrame) -> pl.DataFrame:
        start = missions.get_column("starts_at").min()
        end = missions.get_column("ends_at").max()
        subscribers = missions.get_column("subscriber_id").unique()
        scan = rt.events.scan().filter(
            pl.col("subscriber_id").is_in(subscribers.to_list()),
            pl.col("event_time") >= start,
            pl.col("event_time") < end,
        )
        return scan.select(EVENT_SCHEMA.names()).collect()

    return events_of


# ---- applying a batch's results ------------------------------------------------------------------------------------


def _apply(
    session: Session, loaded: Loaded, results: pl.DataFrame, states: dict[str, pl.DataFrame], run: EngineRun
) -> None:
    """Write progress and states; complete (once), reward and announce what the results say."""
    current = {i: r["state"] for i, r in loaded.rows.items()}
    new_states = stored.encode(states, current)
    updates, events, rewards = [], [], []
    for row in results.iter_rows(named=True):
        assignment_id = int(row["assignment_id"])
        before = loaded.rows[assignment_id]
        change: dict[str, Any] = {
            "b_id": assignment_id,
            "progress": row["value"],
            "target": row["target"],
            "fraction": row["fraction"],
            "state": new_states.get(assignment_id, before["state"]),
            "status": before["status"],
            "completed_at": None,
        }
        if row["completed"] and before["status"] != COMPLETED:
            change |= {"status": COMPLETED, "completed_at": row["completed_at"]}
            events.append(_event("mission.completed", assignment_id, before, row["completed_at"], row))
            run.completed += 1
            if not before["control"]:
                rewards.append(_reward(assignment_id, before, loaded, row["completed_at"]))
        elif _quarter(row["fraction"]) > _quarter(before["fraction"]) and not row["completed"]:
            events.append(_event("mission.progressed", assignment_id, before, row["completed_at"], row))
        updates.append(change)
        before.update(status=change["status"], fraction=row["fraction"], state=change["state"])
    run.progressed += len(updates)
    _write(session, updates, rewards, events, run)


def _quarter(fraction: float | None) -> int:
    return int((fraction or 0.0) * QUARTERS)


def _event(kind: str, assignment_id: int, before: dict[str, Any], at: Any, row: dict[str, Any]) -> dict[str, Any]:
    step = _quarter(row["fraction"]) if kind == "mission.progressed" else QUARTERS
    return {
        "key": f"{kind}:{assignment_id}:{step}",
        "type": kind,
        "subject": before["subscriber_id"],
        "time": at or utcnow(),
        "data": {
            "assignment_id": assignment_id,
            "mission": before["mission_key"],
            "value": row["value"],
            "target": row["target"],
            "fraction": row["fraction"],
            "control": before["control"],
        },
    }


def _reward(assignment_id: int, before: dict[str, Any], loaded: Loaded, at: dt.datetime) -> dict[str, Any]:
    reward = loaded.rewards.get((before["template_key"], before["template_version"]), {})
    return {
        "key": f"mission:{assignment_id}",
        "subscriber_id": before["subscriber_id"],
        "points": before["reward_points"],
        "badge_key": reward.get("badge"),
        "offer": reward.get("offer"),
        "reason": f"completed mission {before['mission_key']}",
        "granted_at": at,
    }


def _write(
    session: Session,
    updates: list[dict[str, Any]],
    rewards: list[dict[str, Any]],
    events: list[dict[str, Any]],
    run: EngineRun,
) -> None:
    if updates:
        statement = (
            update(Assignment)
            .where(Assignment.id == bindparam("b_id"))
            .values(
                progress=bindparam("progress"),
                target=bindparam("target"),
                fraction=bindparam("fraction"),
                state=bindparam("state"),
                status=bindparam("status"),
                completed_at=bindparam("completed_at"),
            )
        )
        session.connection().execute(statement, updates)
    known = set(session.scalars(select(Reward.key).where(Reward.key.in_([r["key"] for r in rewards]))))
    fresh = [r for r in rewards if r["key"] not in known]
    if fresh:
        session.add_all(Reward(**r) for r in fresh)
        events += [_granted(r) for r in fresh]
    run.rewards += len(fresh)
    run.outbox += emit(session, events)


def _granted(reward: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": f"reward.granted:{reward['key']}",
        "type": "reward.granted",
        "subject": reward["subscriber_id"],
        "time": reward["granted_at"],
        "data": {k: reward[k] for k in ("points", "badge_key", "offer", "reason")},
    }


# ---- ended missions ------------------------------------------------------------------------------------------------


def _settle_ended(rt: Runtime, session: Session, now: dt.datetime, run: EngineRun) -> None:
    """Missions whose window has ended: complete those their state completes (an absence held), expire the rest."""
    loaded = _load(session, now, ended_by=now)
    if not loaded.rows:
        return
    results = settle(
        loaded.frame,
        loaded.criteria,
        _states(loaded, loaded.frame),
        as_of=now,
        timezone=rt.settings.timezone,
        history=_history(rt),
    )
    _apply(session, loaded, results, {}, run)
    done = set(results.filter(pl.col("completed")).get_column("assignment_id").to_list())
    expired = [i for i in loaded.rows if i not in done]
    _expire(session, expired, loaded, now, run)


def _expire(session: Session, ids: Iterable[int], loaded: Loaded, now: dt.datetime, run: EngineRun) -> None:
    ids = list(ids)
    if not ids:
        return
    for start in range(0, len(ids), 5_000):
        chunk = ids[start : start + 5_000]
        session.execute(update(Assignment).where(Assignment.id.in_(chunk)).values(status=EXPIRED))
    events = [
        {
            "key": f"mission.expired:{i}",
            "type": "mission.expired",
            "subject": loaded.rows[i]["subscriber_id"],
            "time": loaded.rows[i]["ends_at"],
            "data": {
                "assignment_id": i,
                "mission": loaded.rows[i]["mission_key"],
                "control": loaded.rows[i]["control"],
            },
        }
        for i in ids
    ]
    run.expired += len(ids)
    run.outbox += emit(session, events)
