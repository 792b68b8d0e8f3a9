"""The measures as incremental aggregators over mergeable partial states: `initialize / agg / merge / result`.

A state is one row per assignment (`_row`) holding the target, the measure's own columns, `completed_at` and
`last_at` (the latest event counted). `agg` folds a batch of matched events into a prior state (or into the initial
one); `merge` combines two states of disjoint batches; `result` gives each assignment's value and completion time.

The measure's columns merge exactly, whatever the split of the events: evaluating the whole history or merging the
states of any two batches gives the same value. `completed_at` is exact when a batch follows the prior state in event
time (the normal case): each batch event is counted after the whole prior state. Merging two states that each fell
short takes the later of their last events as the completion time, an upper bound of the exact one.

`agg` gets the matched events sorted by (`_row`, `event_time`) with `_row`, `event_time`, `target` (Float64) and the
measure's input: `x` (sum), `day` (day-based: local days since the window's first day, 0-63) or `v` (distinct_values).
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from questline.rules.criteria import Leaf
from questline.rules.kernels import KEY, bit, has_run, longest_run, position, running_sum

TIME = pl.Datetime("us", "UTC")
MASK = pl.UInt64()
T, C, LAST = pl.col("target"), pl.col("completed_at"), pl.col("last_at")


def _b(name: str) -> pl.Expr:
    """The other side's column in a merge."""
    return pl.col(f"{name}_b")


class Measure:
    """count: the number of matching events. Subclasses override the columns and the three folds."""

    columns: ClassVar[dict[str, pl.DataType]] = {"n": pl.Int64()}
    monotone: ClassVar[bool] = True  # complete once value >= target (every measure but absence)

    def initialize(self) -> dict[str, pl.Expr]:
        """The state of an assignment no event has reached yet, as literals."""
        return {name: _zero(dtype).alias(name) for name, dtype in self.columns.items()}

    def agg(self, rows: pl.DataFrame, prior: pl.DataFrame | None) -> pl.DataFrame:
        rows = with_prior(rows, prior, self)
        hit = ~pl.col("prior_done") & (pl.col("prior_n") + position() >= T)
        return _fold(rows.with_columns(hit_at=_at(hit)), n=pl.len().cast(pl.Int64))

    def combine(self) -> list[pl.Expr]:
        """The measure's columns of two merged states (`name` and `name_b`, nulls already the initial state)."""
        return [pl.col("n") + _b("n")]

    def value(self) -> pl.Expr:
        return pl.col("n").cast(pl.Float64)

    def merge(self, a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
        joined = a.join(b, on=KEY, how="full", coalesce=True, suffix="_b")
        zeros = {n: pl.col(n).fill_null(z) for n, z in self.initialize().items()}
        zeros |= {f"{n}_b": _b(n).fill_null(z) for n, z in self.initialize().items()}
        merged = joined.with_columns(**zeros).select(
            KEY,
            pl.coalesce(T, _b("target")).alias("target"),
            *self.combine(),
            pl.min_horizontal(C, _b("completed_at")).alias("completed_at"),
            pl.max_horizontal(LAST, _b("last_at")).alias("last_at"),
        )
        if not self.monotone:
            return merged
        # Neither side reached the target alone but together they do: by the later one's last event at the latest.
        late = C.is_null() & (self.value() >= T)
        return (
            self.prepare(merged).with_columns(completed_at=pl.when(late).then(LAST).otherwise(C)).select(merged.columns)
        )

    def prepare(self, state: pl.DataFrame) -> pl.DataFrame:
        """Columns `value` needs beyond the state's own (computed outside expressions)."""
        return state

    def result(self, state: pl.DataFrame) -> pl.DataFrame:
        """`_row`, `value` and `completed_at` (null unless value >= target)."""
        done = self.value() >= T
        return self.prepare(state).select(
            KEY, value=self.value(), completed_at=pl.when(done).then(pl.coalesce(C, LAST))
        )


class Sum(Measure):
    columns = {"total": pl.Float64()}

    def agg(self, rows: pl.DataFrame, prior: pl.DataFrame | None) -> pl.DataFrame:
        rows = with_prior(rows.with_columns(pl.col("x").fill_null(0.0)), prior, self)
        rows = rows.with_columns(run=running_sum(rows, "x"))
        hit = ~pl.col("prior_done") & (pl.col("prior_total") + pl.col("run") >= T)
        return _fold(rows.with_columns(hit_at=_at(hit)), total=pl.col("x").sum())

    def combine(self) -> list[pl.Expr]:
        return [pl.col("total") + _b("total")]

    def value(self) -> pl.Expr:
        return pl.col("total")


class DistinctDays(Measure):
    columns = {"mask": MASK}

    def agg(self, rows: pl.DataFrame, prior: pl.DataFrame | None) -> pl.DataFrame:
        days = with_prior(_days(rows), prior, self)
        fresh = (pl.col("prior_mask") & pl.col("bit")) == 0
        days = days.with_columns(fresh=fresh.cast(pl.Int64))
        days = days.with_columns(run=running_sum(days, "fresh"))
        count = pl.col("prior_mask").bitwise_count_ones().cast(pl.Int64) + pl.col("run")
        hit = ~pl.col("prior_done") & (pl.col("fresh") == 1) & (count >= T)
        return _fold_days(days, hit)

    def combine(self) -> list[pl.Expr]:
        return [pl.col("mask") | _b("mask")]

    def value(self) -> pl.Expr:
        return pl.col("mask").bitwise_count_ones().cast(pl.Float64)


class Streak(Measure):
    columns = {"mask": MASK}

    def agg(self, rows: pl.DataFrame, prior: pl.DataFrame | None) -> pl.DataFrame:
        days = with_prior(_days(rows), prior, self)
        # Distinct days: their running sum is the running union of their bits.
        masks = days.get_column("prior_mask") | running_sum(days, "bit")
        days = days.with_columns(reached=has_run(masks, days.get_column("target")))
        return _fold_days(days, ~pl.col("prior_done") & pl.col("reached"))

    def combine(self) -> list[pl.Expr]:
        return [pl.col("mask") | _b("mask")]

    def value(self) -> pl.Expr:
        return pl.col("_longest").cast(pl.Float64)

    def prepare(self, state: pl.DataFrame) -> pl.DataFrame:
        return state.with_columns(_longest=longest_run(state.get_column("mask")))


class DistinctValues(Measure):
    columns = {"values": pl.List(pl.String())}

    def agg(self, rows: pl.DataFrame, prior: pl.DataFrame | None) -> pl.DataFrame:
        rows = rows.with_columns(pl.col("v").cast(pl.String))
        first = rows.group_by(KEY, "v").agg(T.first(), t=pl.col("event_time").min(), last=pl.col("event_time").max())
        first = with_prior(first.sort(KEY, "t"), prior, self)
        seen = pl.col("prior_values").list.contains(pl.col("v"))
        first = first.with_columns(fresh=(~seen).cast(pl.Int64))
        first = first.with_columns(run=running_sum(first, "fresh"))
        count = pl.col("prior_values").list.len().cast(pl.Int64) + pl.col("run")
        hit = ~pl.col("prior_done") & (pl.col("fresh") == 1) & (count >= T)
        first = first.with_columns(hit_at=pl.when(hit).then(pl.col("t")))
        return first.group_by(KEY).agg(
            T.first(), values=pl.col("v"), completed_at=pl.col("hit_at").min(), last_at=pl.col("last").max()
        )

    def combine(self) -> list[pl.Expr]:
        return [pl.concat_list("values", "values_b").list.unique().alias("values")]

    def value(self) -> pl.Expr:
        return pl.col("values").list.len().cast(pl.Float64)


class First(Measure):
    columns = {"first_at": TIME}

    def agg(self, rows: pl.DataFrame, prior: pl.DataFrame | None) -> pl.DataFrame:
        rows = with_prior(rows, prior, self)
        hit = pl.col("prior_first_at").is_null()
        return _fold(rows.with_columns(hit_at=_at(hit)), first_at=pl.col("event_time").min())

    def combine(self) -> list[pl.Expr]:
        return [pl.min_horizontal("first_at", "first_at_b").alias("first_at")]

    def value(self) -> pl.Expr:
        return pl.col("first_at").is_not_null().cast(pl.Float64)


class Absence(First):
    """per event: the state is the first violating event (`first_at`); `result` is the evaluator's, which knows the
    window. Never completes from events, so it has no completion time of its own."""

    monotone = False

    def agg(self, rows: pl.DataFrame, prior: pl.DataFrame | None) -> pl.DataFrame:
        return super().agg(rows, None).with_columns(completed_at=pl.lit(None, dtype=TIME))

    def result(self, state: pl.DataFrame) -> pl.DataFrame:
        return state.select(KEY, "first_at")


class AbsentDays(DistinctDays):
    """per day: the state is the mask of days with a matching event; a day of the window missing from it is a
    violation once that day is over."""

    monotone = False

    def agg(self, rows: pl.DataFrame, prior: pl.DataFrame | None) -> pl.DataFrame:
        return _fold_days(_days(rows), pl.lit(False))

    def result(self, state: pl.DataFrame) -> pl.DataFrame:
        return state.select(KEY, "mask")


MEASURES: dict[str, type[Measure]] = {
    "count": Measure,
    "sum": Sum,
    "distinct_days": DistinctDays,
    "distinct_values": DistinctValues,
    "streak": Streak,
    "first": First,
}


def measure_of(leaf: Leaf) -> Measure:
    if leaf.measure == "absence":
        return AbsentDays() if leaf.per == "day" else Absence()
    return MEASURES[leaf.measure]()


def with_prior(frame: pl.DataFrame, prior: pl.DataFrame | None, measure: Measure) -> pl.DataFrame:
    """`frame` with the prior state's columns as `prior_<name>` (the initial state where there is none) and
    `prior_done`: whether the prior state had completed already."""
    zeros = measure.initialize()
    if prior is None:
        return frame.with_columns(
            *(value.alias(f"prior_{name}") for name, value in zeros.items()), prior_done=pl.lit(False)
        )
    columns = [pl.col(name).alias(f"prior_{name}") for name in zeros]
    prior = prior.select(KEY, *columns, prior_done=C.is_not_null())
    joined = frame.join(prior, on=KEY, how="left", maintain_order="left")
    fill = {f"prior_{name}": pl.col(f"prior_{name}").fill_null(value) for name, value in zeros.items()}
    return joined.with_columns(**fill, prior_done=pl.col("prior_done").fill_null(False))


def _days(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per (assignment, day) with the day's bit and first and last event, in day (= time) order."""
    days = rows.group_by(KEY, "day").agg(T.first(), t=pl.col("event_time").min(), last=pl.col("event_time").max())
    return days.sort(KEY, "day").with_columns(bit=bit(pl.col("day")))


def _fold_days(days: pl.DataFrame, hit: pl.Expr) -> pl.DataFrame:
    # Distinct days: the sum of their bits is their union.
    days = days.with_columns(hit_at=pl.when(hit).then(pl.col("t")))
    return days.group_by(KEY).agg(
        T.first(), mask=pl.col("bit").sum(), completed_at=pl.col("hit_at").min(), last_at=pl.col("last").max()
    )


def _fold(rows: pl.DataFrame, **columns: pl.Expr) -> pl.DataFrame:
    """One state row per assignment: the target, the measure's columns, the first hit and the last event."""
    return rows.group_by(KEY).agg(
        T.first(), **columns, completed_at=pl.col("hit_at").min(), last_at=pl.col("event_time").max()
    )


def _at(hit: pl.Expr) -> pl.Expr:
    """The event's time where `hit` holds (its minimum per assignment is the completion time)."""
    return pl.when(hit).then(pl.col("event_time"))


def _zero(dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.List):
        return pl.lit([], dtype=dtype)
    if isinstance(dtype, pl.Datetime):
        return pl.lit(None, dtype=dtype)
    return pl.lit(0, dtype=dtype)
