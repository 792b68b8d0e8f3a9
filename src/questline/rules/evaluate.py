"""Criteria evaluated over events for many assigned missions at once: one join of events to missions per leaf, then
group-bys into each measure's state (see measures.py), then whole-column arithmetic over the missions.

Python loops only walk the criteria tree. Leaf and composite results are frames aligned with `missions` row by row,
so composites combine columns side by side instead of joining."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import polars as pl

from questline.kit.errors import Invalid
from questline.rules.criteria import (
    FIELDS,
    AllOf,
    Criteria,
    Leaf,
    Predicate,
    Steps,
    leaves,
    parameters,
    ref_name,
)
from questline.rules.kernels import KEY, low_bits
from questline.rules.measures import Measure, measure_of
from questline.rules.windows import MICROSECOND, TIME, Clock, check_span, first_day, in_window, last_day, with_days

REQUIRED: dict[str, pl.DataType] = {
    "assignment_id": pl.UInt64(),
    "subscriber_id": pl.String(),
    "starts_at": TIME,
    "ends_at": TIME,
}
RESULT = pl.Schema(
    {
        "assignment_id": pl.UInt64(),
        "value": pl.Float64(),
        "target": pl.Float64(),
        "fraction": pl.Float64(),
        "completed": pl.Boolean(),
        "completed_at": TIME,
    }
)
Events = pl.LazyFrame | pl.DataFrame


def evaluate(
    criteria: Criteria, events: Events, missions: pl.DataFrame, *, as_of: dt.datetime, timezone: str
) -> pl.DataFrame:
    """Progress of every assigned mission (one row per `missions` row, same order) counting the events before
    `as_of`: assignment_id, value, target, fraction (0-1), completed, completed_at."""
    missions = _checked_missions(missions, criteria)
    clock = Clock.of(as_of, timezone, missions)
    _check_spans(criteria, missions, clock)
    frame = _node(criteria, "criteria", _events(events, criteria, clock), missions, clock)
    return pl.concat([missions.select("assignment_id"), frame], how="horizontal")


# ---- one leaf, as incremental state ---------------------------------------------------------------------------------


def leaf_state(
    leaf: Leaf,
    events: Events,
    missions: pl.DataFrame,
    *,
    as_of: dt.datetime,
    timezone: str,
    prior: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The leaf's state per assignment_id (those with matching events, or in `prior`): `prior` with this batch of
    events folded in, or the batch's own state."""
    missions = _checked_missions(missions, leaf)
    clock = Clock.of(as_of, timezone, missions)
    _check_spans(leaf, missions, clock)
    measure = measure_of(leaf)
    rows = _rows(leaf, _events(events, leaf, clock), missions, clock)
    before = None if prior is None else _by_row(prior, missions)
    state = measure.agg(rows, before)
    return _by_id(state if before is None else measure.merge(before, state), missions)


def merge_states(leaf: Leaf, a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """The state of two disjoint batches of events from their own states (keyed by assignment_id)."""
    merged = measure_of(leaf).merge(a.rename({"assignment_id": KEY}), b.rename({"assignment_id": KEY}))
    return merged.rename({KEY: "assignment_id"})


def leaf_result(
    leaf: Leaf, state: pl.DataFrame, missions: pl.DataFrame, *, as_of: dt.datetime, timezone: str
) -> pl.DataFrame:
    """What `evaluate` gives for a leaf, from its state."""
    missions = _checked_missions(missions, leaf)
    clock = Clock.of(as_of, timezone, missions)
    frame = _result(leaf, measure_of(leaf), _by_row(state, missions), missions, clock)
    return pl.concat([missions.select("assignment_id"), frame], how="horizontal")


# ---- the tree ------------------------------------------------------------------------------------------------------


def _node(criteria: Criteria, path: str, events: pl.DataFrame, missions: pl.DataFrame, clock: Clock) -> pl.DataFrame:
    if isinstance(criteria, Leaf):
        measure = measure_of(criteria)
        return _result(criteria, measure, measure.agg(_rows(criteria, events, missions, clock), None), missions, clock)
    if isinstance(criteria, Steps):
        return _steps(criteria, path, events, missions, clock)
    if isinstance(criteria, AllOf):
        return _combine([_node(c, f"{path}.all.{i}", events, missions, clock) for i, c in enumerate(criteria.all)])
    return _combine([_node(c, f"{path}.any.{i}", events, missions, clock) for i, c in enumerate(criteria.any)], "any")


def _steps(steps: Steps, path: str, events: pl.DataFrame, missions: pl.DataFrame, clock: Clock) -> pl.DataFrame:
    """Step k counts only events after step k-1 completed; until then it shows no progress."""
    parts: list[pl.DataFrame] = []
    current = missions
    for i, child in enumerate(steps.steps):
        part = _node(child, f"{path}.steps.{i}", events, current, clock)
        if parts:
            started = parts[-1].get_column("completed")
            part = part.with_columns(
                value=pl.when(started).then("value").otherwise(0.0),
                fraction=pl.when(started).then("fraction").otherwise(0.0),
                completed=pl.col("completed") & started,
                completed_at=pl.when(started).then("completed_at"),
            )
        parts.append(part)
        current = _after(missions, part, clock)
    return _combine(parts, "all")


def _after(missions: pl.DataFrame, step: pl.DataFrame, clock: Clock) -> pl.DataFrame:
    """The missions as seen by the next step: starting just after this step completed (the completing event is
    not counted twice); not started yet, an empty period from as_of, which no counted event can fall in."""
    done, at = step.get_column("completed"), step.get_column("completed_at")
    not_yet = pl.lit(clock.as_of, dtype=TIME).clip(pl.col("starts_at"), pl.col("ends_at"))
    after = pl.max_horizontal(pl.col("starts_at"), pl.lit(at) + MICROSECOND)
    return missions.with_columns(starts_at=pl.when(pl.lit(done)).then(after).otherwise(not_yet))


def _combine(parts: list[pl.DataFrame], mode: Literal["all", "any"] = "all") -> pl.DataFrame:
    """all / steps: value = children completed, target = children, fraction = their mean; any: one is enough."""
    frame = pl.concat([p.select(pl.all().name.suffix(f"_{i}")) for i, p in enumerate(parts)], how="horizontal")
    n = len(parts)
    done = [pl.col(f"completed_{i}") for i in range(n)]
    fractions = [pl.col(f"fraction_{i}") for i in range(n)]
    ats = [pl.col(f"completed_at_{i}") for i in range(n)]
    count = pl.sum_horizontal(done).cast(pl.Float64)
    if mode == "any":
        return frame.select(
            value=count.clip(upper_bound=1.0),
            target=pl.lit(1.0),
            fraction=pl.max_horizontal(fractions),
            completed=pl.any_horizontal(done),
            completed_at=pl.min_horizontal(ats),
        )
    complete = pl.all_horizontal(done)
    return frame.select(
        value=count,
        target=pl.lit(float(n)),
        fraction=pl.mean_horizontal(fractions),
        completed=complete,
        completed_at=pl.when(complete).then(pl.max_horizontal(ats)),
    )


# ---- a leaf: matching events ----------------------------------------------------------------------------------------


def _check_spans(criteria: Criteria, missions: pl.DataFrame, clock: Clock) -> None:
    """Day masks hold 64 days: refuse longer missions for day-based leaves up front (a step's window is a part of
    its mission's, so the whole mission is what counts)."""
    for path, leaf in leaves(criteria):
        if leaf.day_based:
            check_span(leaf.window, clock, missions, leaf.measure, f"{path}.window")


def _rows(leaf: Leaf, events: pl.DataFrame, missions: pl.DataFrame, clock: Clock) -> pl.DataFrame:
    """The leaf's matching events joined to the assignments they count for, sorted by (assignment row, time), with
    the measure's inputs: `target`, and `x` (sum), `v` (distinct_values) or `day` (day-based)."""
    fixed = [p for p in leaf.events.where if ref_name(p.value) is None]
    personal = [p for p in leaf.events.where if ref_name(p.value) is not None]
    matched = events.filter(pl.col("event_type").is_in(leaf.events.types), *(_predicate(p, None) for p in fixed))
    if leaf.measure == "distinct_values":
        matched = matched.filter(pl.col(leaf.column or "value").is_not_null())
    by_day = leaf.day_based or leaf.window.kind != "mission"
    if by_day:
        matched = matched.with_columns(_day=clock.day(pl.col("event_time")))
    params = sorted({f"p_{ref_name(p.value)}" for p in personal} | _target_params(leaf))
    days = ["_start_day", "_last_day"] if by_day else []
    assigned = (with_days(missions, clock) if by_day else missions).with_row_index(KEY)
    assigned = assigned.select(KEY, "subscriber_id", "starts_at", "ends_at", *days, *params)
    joined = matched.join(assigned, on="subscriber_id").filter(
        pl.col("event_time") >= pl.col("starts_at"),
        pl.col("event_time") < pl.col("ends_at"),
        *(_predicate(p, missions.schema) for p in personal),
        *([in_window(leaf.window, clock, pl.col("_day"))] if by_day else []),
    )
    inputs = {"target": _target(leaf)}
    if leaf.measure == "sum":
        inputs["x"] = pl.col(leaf.column or "value").cast(pl.Float64)
    if leaf.measure == "distinct_values":
        inputs["v"] = pl.col(leaf.column or "value")
    if leaf.day_based:
        inputs["day"] = (pl.col("_day") - first_day(leaf.window, clock)).dt.total_days()
    return joined.select(KEY, "event_time", **inputs).sort(KEY, "event_time")


def _predicate(p: Predicate, schema: pl.Schema | None) -> pl.Expr:
    """A `where` test; a reference compares with the assignment's own `p_<name>` column (in `schema`)."""
    column = pl.col(p.field)
    name = ref_name(p.value)
    if name is not None and isinstance(FIELDS[p.field], pl.Enum):
        column = column.cast(pl.String)  # an Enum compares with a text column only as text
    other = pl.col(f"p_{name}") if name is not None else pl.lit(p.value)
    if p.op == "is_null":
        return column.is_null()
    if p.op == "not_null":
        return column.is_not_null()
    if p.op == "ne":
        return column.ne_missing(other)
    if p.op in ("in", "not_in"):
        listed = name is not None and schema is not None and isinstance(schema[f"p_{name}"], pl.List)
        inside = (
            other.list.contains(column)
            if listed
            else column.is_in(pl.lit(p.value))
            if name is None
            else column == other
        )
        return inside.fill_null(False) if p.op == "in" else (~inside).fill_null(True)
    compare = {"eq": column.eq, "gt": column.gt, "ge": column.ge, "lt": column.lt, "le": column.le}[p.op]
    return compare(other).fill_null(False)


def _target(leaf: Leaf) -> pl.Expr:
    name = ref_name(leaf.target)
    return pl.col(f"p_{name}").cast(pl.Float64) if name else pl.lit(float(leaf.target or 1.0))


def _targets(leaf: Leaf, missions: pl.DataFrame) -> pl.Series:
    name = ref_name(leaf.target)
    if name:
        return missions.get_column(f"p_{name}").cast(pl.Float64).alias("target")
    return pl.repeat(float(leaf.target or 1.0), missions.height, eager=True).alias("target")


def _target_params(leaf: Leaf) -> set[str]:
    name = ref_name(leaf.target)
    return {f"p_{name}"} if name else set()


# ---- a leaf: results ------------------------------------------------------------------------------------------------


def _result(leaf: Leaf, measure: Measure, state: pl.DataFrame, missions: pl.DataFrame, clock: Clock) -> pl.DataFrame:
    """value, target, fraction, completed, completed_at for every row of `missions`, from the leaf's state."""
    if not measure.monotone:
        return _absence(leaf, measure, state, missions, clock)
    summary = measure.result(state)
    frame = pl.DataFrame(
        {
            "value": _scatter(missions.height, summary, "value", 0.0, pl.Float64()),
            "target": _targets(leaf, missions),
            "completed_at": _scatter(missions.height, summary, "completed_at", None, TIME),
        }
    )
    done = pl.col("value") >= pl.col("target")
    return frame.select(
        "value",
        "target",
        fraction=(pl.col("value") / pl.col("target")).clip(0.0, 1.0),
        completed=done,
        completed_at=pl.when(done).then("completed_at"),
    )


def _absence(leaf: Leaf, measure: Measure, state: pl.DataFrame, missions: pl.DataFrame, clock: Clock) -> pl.DataFrame:
    """value = the window's days elapsed without a violation (0 after one), target = the window's days; complete
    at the window's end (the mission's end) if nothing violated it."""
    summary = measure.result(state)
    n = missions.height
    frame = with_days(missions.select("starts_at", "ends_at"), clock)
    if leaf.per == "day":
        frame = frame.with_columns(mask=_scatter(n, summary, "mask", 0, pl.UInt64()))
    else:
        frame = frame.with_columns(violated_at=_scatter(n, summary, "first_at", None, TIME))
    origin = first_day(leaf.window, clock)
    days = ((last_day(leaf.window, clock) - origin).dt.total_days() + 1).clip(lower_bound=0)
    ended = pl.col("ends_at") <= pl.lit(clock.as_of, dtype=TIME)
    over = (pl.lit(clock.today) - origin).dt.total_days().clip(0, None)
    frame = frame.with_columns(days=days, elapsed=pl.when(ended).then(days).otherwise(pl.min_horizontal(over, days)))
    if leaf.per == "day":
        wanted = low_bits(pl.col("elapsed"))
        violated = (pl.col("mask") & wanted) != wanted
    else:
        violated = pl.col("violated_at").is_not_null()
    frame = frame.with_columns(violated=violated, ended=ended)
    target = pl.col("days").clip(lower_bound=1).cast(pl.Float64)
    value = pl.when(pl.col("violated")).then(0).otherwise(pl.col("elapsed")).cast(pl.Float64)
    done = pl.col("ended") & ~pl.col("violated")
    return frame.select(
        value=value,
        target=target,
        fraction=(value / target).clip(0.0, 1.0),
        completed=done,
        completed_at=pl.when(done).then(pl.col("ends_at")),
    )


def _scatter(n: int, frame: pl.DataFrame, column: str, fill: float | None, dtype: pl.DataType) -> pl.Series:
    """A column of `n` rows holding `fill`, with `frame[column]` placed at rows `frame[_row]`."""
    out = pl.repeat(fill, n, dtype=dtype, eager=True).alias(column)
    if frame.height:
        out.scatter(frame.get_column(KEY), frame.get_column(column).cast(dtype))
    return out


# ---- inputs --------------------------------------------------------------------------------------------------------


def _checked_missions(missions: pl.DataFrame, criteria: Criteria) -> pl.DataFrame:
    """`missions` with the columns the criteria need, times in UTC microseconds; `Invalid` naming what is wrong."""
    for name, dtype in REQUIRED.items():
        if name not in missions.columns:
            raise Invalid(f"the missions frame has no {name} column", field=f"missions.{name}")
        if isinstance(dtype, pl.Datetime) and missions.schema[name] != dtype:
            missions = missions.with_columns(_utc(missions, name))
    for name in sorted(parameters(criteria)):
        if f"p_{name}" not in missions.columns:
            raise Invalid(
                f'the criteria use "{{{name}}}": resolve it or give each mission a p_{name} column',
                field=f"missions.p_{name}",
            )
    for path, leaf in leaves(criteria):
        target = ref_name(leaf.target)
        if target:
            _check_targets(missions, target, f"{path}.target")
    return missions


def _utc(missions: pl.DataFrame, name: str) -> pl.Expr:
    dtype = missions.schema[name]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise Invalid(f"{name} must be a time-zone-aware datetime (UTC)", field=f"missions.{name}")
    return pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def _check_targets(missions: pl.DataFrame, name: str, where: str) -> None:
    column = missions.get_column(f"p_{name}")
    if not column.dtype.is_numeric():
        raise Invalid(
            f"p_{name} is the target of {where}: it must be numeric, not {column.dtype}", field=f"missions.p_{name}"
        )
    bad = missions.filter(pl.col(f"p_{name}").is_null() | ~(pl.col(f"p_{name}") > 0))
    if bad.height:
        raise Invalid(
            f"p_{name} is the target of {where}: {bad.height} missions have none or one <= 0 "
            f"(e.g. assignment {bad.item(0, 'assignment_id')})",
            field=f"missions.p_{name}",
        )


def _events(events: Events, criteria: Criteria, clock: Clock) -> pl.DataFrame:
    """The events any leaf may count (its types, before as_of), with only the columns the criteria read."""
    found = [leaf for _, leaf in leaves(criteria)]
    types = sorted({t for leaf in found for t in leaf.events.types})
    columns = {"subscriber_id", "event_time", "event_type"}
    columns |= {p.field for leaf in found for p in leaf.events.where} | {leaf.column for leaf in found if leaf.column}
    frame = events.lazy()
    schema = frame.collect_schema()
    for name in sorted(columns - set(schema.names())):
        raise Invalid(f"the events have no {name} column", field=f"events.{name}")
    time = pl.col("event_time")
    if schema["event_time"] != TIME:
        time = time.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    frame = frame.select(*(c for c in sorted(columns) if c != "event_time"), event_time=time)
    return frame.filter(
        pl.col("event_time") < pl.lit(clock.as_of, dtype=TIME), pl.col("event_type").is_in(types)
    ).collect()


def _by_row(state: pl.DataFrame, missions: pl.DataFrame) -> pl.DataFrame:
    index = missions.select("assignment_id").with_row_index(KEY)
    return state.join(index, on="assignment_id").drop("assignment_id").select(KEY, pl.exclude(KEY))


def _by_id(state: pl.DataFrame, missions: pl.DataFrame) -> pl.DataFrame:
    ids = missions.get_column("assignment_id").gather(state.get_column(KEY))
    return state.select(ids.alias("assignment_id"), pl.exclude(KEY))
