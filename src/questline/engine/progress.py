"""Mission progress on a batch of events, a pure stage: batch + active assignments + their criteria + the stored
leaf states -> new leaf states and each affected assignment's progress.

Leaves (and `all` / `any` of leaves) advance incrementally: the batch is folded into each leaf's stored state
(`questline.rules.evaluate.leaf_state`), so a batch costs one join of its events to the assignments of its
subscribers, whatever the history. Late and out-of-order events fold in the same way: the measures are sums, masks
of days and sets. `steps` depend on when each step completed, so an ordered mission is re-evaluated over the
history of its affected assignments, which the caller supplies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import polars as pl

from questline.events.schema import EVENT_SCHEMA
from questline.rules.criteria import AllOf, AnyOf, Criteria, Leaf, leaves, parameters
from questline.rules.evaluate import RESULT, evaluate, leaf_result, leaf_state

ID = "subscriber_id"
# One template version's criteria: assignments are grouped by the version they were generated from.
Version = tuple[str, int]
History = Callable[[pl.DataFrame], pl.DataFrame]  # assignments -> every event of their subscribers in their windows


@dataclass
class Progressed:
    results: pl.DataFrame  # RESULT schema, one row per affected assignment
    states: dict[str, pl.DataFrame] = field(default_factory=dict)  # state key -> states of the affected assignments


def state_key(version: Version, path: str) -> str:
    """Where a leaf's states are kept: template, version and the leaf's path in the criteria."""
    return f"{version[0]}~v{version[1]}~{path.replace('.', '-')}"


def affected(batch: pl.DataFrame, assignments: pl.DataFrame) -> pl.DataFrame:
    """The assignments a batch can move: an event of their subscriber falls inside their window."""
    spans = batch.group_by(ID).agg(
        pl.col("event_time").min().alias("__first"), pl.col("event_time").max().alias("__last")
    )
    joined = assignments.join(spans, on=ID, how="inner")
    inside = (pl.col("__last") >= pl.col("starts_at")) & (pl.col("__first") < pl.col("ends_at"))
    return joined.filter(inside).drop("__first", "__last")


def advance(
    batch: pl.DataFrame,
    assignments: pl.DataFrame,
    criteria: Mapping[Version, Criteria],
    states: Mapping[str, pl.DataFrame],
    *,
    as_of: dt.datetime,
    timezone: str,
    history: History | None = None,
    touched: pl.DataFrame | None = None,
) -> Progressed:
    """Progress of every assignment the batch touches (or of `touched`). `assignments` (assignment_id,
    subscriber_id, template_key, template_version, starts_at, ends_at, and `p_<name>` for each parameter) may hold
    every active assignment; `states` maps state keys to stored states (assignment_id + the measure's columns)."""
    touched = affected(batch, assignments) if touched is None else touched
    progressed = Progressed(pl.DataFrame(schema=RESULT))
    parts = [progressed.results]
    groups = touched.partition_by("template_key", "template_version", as_dict=True, include_key=False)
    for (key, number), missions in groups.items():
        version = (str(key), int(number))
        ran = _advance_one(criteria[version], version, batch, missions, states, as_of, timezone, history)
        parts.append(ran.results)
        progressed.states |= ran.states
    progressed.results = pl.concat(parts, how="vertical")
    return progressed


def settle(
    assignments: pl.DataFrame,
    criteria: Mapping[Version, Criteria],
    states: Mapping[str, pl.DataFrame],
    *,
    as_of: dt.datetime,
    timezone: str,
    history: History | None = None,
) -> pl.DataFrame:
    """Progress of the given assignments from their stored states alone (no new events): what decides a mission
    whose window has ended - an absence that held completes only then."""
    progressed = advance(
        EVENT_SCHEMA.to_frame(),
        assignments,
        criteria,
        states,
        as_of=as_of,
        timezone=timezone,
        history=history,
        touched=assignments,
    )
    return progressed.results


def _advance_one(
    rules: Criteria,
    version: Version,
    batch: pl.DataFrame,
    missions: pl.DataFrame,
    states: Mapping[str, pl.DataFrame],
    as_of: dt.datetime,
    timezone: str,
    history: History | None,
) -> Progressed:
    missions = _params_only(missions, rules)
    if not incremental(rules):
        if history is None:
            raise ValueError("ordered steps need the history of their assignments")
        return Progressed(evaluate(rules, history(missions), missions, as_of=as_of, timezone=timezone))
    results: list[pl.DataFrame] = []
    new_states: dict[str, pl.DataFrame] = {}
    for path, leaf in leaves(rules):
        key = state_key(version, path)
        prior = states.get(key)
        if prior is not None:
            prior = prior.join(missions.select("assignment_id"), on="assignment_id", how="semi")
        state = leaf_state(leaf, batch, missions, as_of=as_of, timezone=timezone, prior=prior)
        new_states[key] = state
        results.append(leaf_result(leaf, state, missions, as_of=as_of, timezone=timezone))
    return Progressed(_combine(rules, results), new_states)


def incremental(rules: Criteria) -> bool:
    """A leaf, or all / any of leaves: folded batch by batch. Anything else is re-evaluated over its history."""
    if isinstance(rules, AllOf | AnyOf):
        return all(isinstance(c, Leaf) for c in (rules.all if isinstance(rules, AllOf) else rules.any))
    return isinstance(rules, Leaf)


def _params_only(missions: pl.DataFrame, rules: Criteria) -> pl.DataFrame:
    """The evaluator refuses unknown parameter columns: keep only those the criteria refer to."""
    used = {f"p_{name}" for name in parameters(rules)}
    return missions.select([c for c in missions.columns if not c.startswith("p_") or c in used])


def _combine(rules: Criteria, results: list[pl.DataFrame]) -> pl.DataFrame:
    """A leaf's result as it is; `all` / `any` of leaves from their results, aligned row by row."""
    if isinstance(rules, Leaf):
        return results[0]
    ids = results[0].select("assignment_id")
    done = [r.get_column("completed") for r in results]
    at = [r.get_column("completed_at") for r in results]
    fractions = [r.get_column("fraction") for r in results]
    columns = {f"d{i}": x for i, x in enumerate(done)} | {f"a{i}": x for i, x in enumerate(at)}
    frame = pl.DataFrame(columns | {f"f{i}": x for i, x in enumerate(fractions)})
    n = len(results)
    d, a, f = ([pl.col(f"{p}{i}") for i in range(n)] for p in "daf")
    if isinstance(rules, AllOf):
        completed = pl.all_horizontal(d)
        combined = [
            pl.sum_horizontal(x.cast(pl.Float64) for x in d).alias("value"),
            pl.lit(float(n)).alias("target"),
            (pl.sum_horizontal(f) / n).alias("fraction"),
            completed.alias("completed"),
            pl.when(completed).then(pl.max_horizontal(a)).alias("completed_at"),
        ]
    else:
        completed = pl.any_horizontal(d)
        combined = [
            completed.cast(pl.Float64).alias("value"),
            pl.lit(1.0).alias("target"),
            pl.max_horizontal(f).alias("fraction"),
            completed.alias("completed"),
            pl.min_horizontal(pl.when(x).then(y) for x, y in zip(d, a, strict=True)).alias("completed_at"),
        ]
    return pl.concat([ids, frame.select(combined)], how="horizontal").select(RESULT.names())
