"""Streaks computed from the daily table over the whole history up to `as_of`: a pure, vectorised stage.

Each subscriber's periods are put in order once (`streak_layout`). After that every step is a linear pass over that
order: cumulative sums, shifts and forward fills. Subscribers lie far apart on one timeline, so a shift that reaches
back into the previous subscriber's periods finds them too far back to count, with no mask. The rules
(docs/streaks.md), in the terms used here:

- a period *qualifies* when the subscriber has a row in it and the condition holds over its totals;
- a period is *protected* when it does not qualify and the subscriber was in an outage's area (`outage_s` > 0);
  protected periods are taken out of the timeline: they neither extend, break nor count towards `freezes.per`;
- every other period before the open one is *missed*; the open period (the one holding `as_of`) is never missed;
- a missed period is forgiven when, counting it, at most `allowed` of the last `per` timeline periods were missed;
  a run breaks at the first missed period that is not forgiven.

Between two qualifying periods the missed count of the window only grows (qualifying periods leave it, none
enter), so a gap breaks the run exactly when its last missed period is not forgiven: when fewer than `per -
allowed` qualifying periods lie in the `per` timeline periods before the next qualifying one. That is one shift.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from questline.engine.streak_layout import MONDAY, Layout, days_since_epoch, lay_out_days, lay_out_weeks
from questline.engine.streak_rules import StreakConfig, StreakDef

GROUP = 1 << 32  # grp x GROUP + a count (< 2^32) orders by subscriber first
SPREAD = 1 << 20  # between subscribers on the timeline: more than 3 x SPAN (a subscriber's span) + the longest `per`

SUMMARY = {
    "subscriber_id": pl.String(),
    "streak_key": pl.String(),
    "current": pl.Int32(),
    "longest": pl.Int32(),
    "last_period": pl.Date(),
    "freezes_used": pl.Int32(),
}
RUNS = {
    "subscriber_id": pl.String(),
    "streak_key": pl.String(),
    "start": pl.Date(),
    "end": pl.Date(),
    "length": pl.Int32(),
    "freezes_used": pl.Int32(),
    "alive": pl.Boolean(),
}

_grp = pl.col("grp")
_idx = pl.col("idx")
_t = pl.col("t")


@dataclass(frozen=True)
class Streaks:
    """`summary`: one row per subscriber and definition with a qualifying period (SUMMARY). `runs`: the runs of
    qualifying periods ending on or after the `runs_since` asked for (RUNS), `alive` for a current one."""

    summary: pl.DataFrame
    runs: pl.DataFrame


def compute(daily: pl.LazyFrame, config: StreakConfig, as_of: dt.date) -> pl.DataFrame:
    """subscriber_id, streak_key, current, longest, last_period, freezes_used as of the end of `as_of`."""
    return evaluate(daily, config, as_of).summary


def evaluate(
    daily: pl.LazyFrame, config: StreakConfig, as_of: dt.date, *, runs_since: dt.date | dict[str, dt.date] | None = None
) -> Streaks:
    """Every definition's summary, and its runs ending on or after `runs_since`: one date for every definition, or
    one per definition key (a definition without one, like none given, lists no runs)."""
    open_day = days_since_epoch(as_of)
    days = [d for d in config.streaks if d.period == "day"]
    weeks = [d for d in config.streaks if d.period == "week"]
    parts = [
        _chain(layout, d, open_day, runs_since)
        for layout in lay_out_days(daily, days, as_of)
        for d in _of(layout, days)
    ]
    open_week = (open_day + MONDAY) // 7
    parts += [
        _chain(layout, d, open_week, runs_since)
        for layout in lay_out_weeks(daily, weeks, as_of)
        for d in _of(layout, weeks)
    ]
    return Streaks(
        pl.concat([p.summary for p in parts]) if parts else pl.DataFrame(schema=SUMMARY),
        pl.concat([p.runs for p in parts]) if parts else pl.DataFrame(schema=RUNS),
    )


def _of(layout: Layout, definitions: list[StreakDef]) -> list[StreakDef]:
    return [d for d in definitions if d.key in layout.slots]


def _chain(
    layout: Layout, definition: StreakDef, open_idx: int, runs_since: dt.date | dict[str, dt.date] | None
) -> Streaks:
    """Runs and summary of one definition from its laid-out periods."""
    if isinstance(runs_since, dict):
        runs_since = runs_since.get(definition.key)
    q, p = layout.flags(definition)
    periods = layout.frame.lazy().select(_grp, _idx, q.alias("q"), p.alias("p")).filter(pl.col("q") | pl.col("p"))
    timeline = _timeline(periods, open_idx) if definition.protect_outages else _unprotected(periods)
    last_rows = timeline.filter((_grp != _grp.shift(-1)).fill_null(True))
    runs, ends = pl.collect_all(
        [
            _runs(timeline.filter(pl.col("q")).select(_grp, _idx, _t), definition),
            last_rows.select(_grp, (_spread(open_idx) - pl.col("closed_protected")).alias("t_open")),
        ]
    )
    last = _close(runs.filter(pl.col("last_run")).join(ends, on="grp", how="left"), definition)
    summary = _summary(last).with_columns(_date(pl.col("last_period"), definition))
    summary = layout.named(summary).with_columns(pl.lit(definition.key).alias("streak_key")).select(*SUMMARY)
    if runs_since is None:
        return Streaks(summary, pl.DataFrame(schema=RUNS))
    return Streaks(summary, _run_rows(layout, runs, last, definition, runs_since))


def _spread(index: pl.Expr | int) -> pl.Expr:
    """A place on one line for all subscribers: each one's periods SPREAD apart from the next one's, so that a
    window reaching back into another subscriber's periods always finds them too far back to count."""
    return _grp.cast(pl.Int64) * SPREAD + index


def _unprotected(periods: pl.LazyFrame) -> pl.LazyFrame:
    return periods.with_columns(_spread(_idx).alias("t"), pl.lit(0, pl.Int64).alias("closed_protected"))


def _timeline(periods: pl.LazyFrame, open_idx: int) -> pl.LazyFrame:
    """`t`: the period's place on a timeline without protected periods; `closed_protected`: the protected periods
    before the open one, up to this row. Both count from the first row of all, not of the subscriber's: only their
    differences within one subscriber are used (gaps, windows, the distance to the open period)."""
    p = pl.col("p").cast(pl.Int64)
    seen = p.cum_sum()
    open_protected = (pl.col("p") & (_idx == open_idx)).cast(pl.Int64)
    return periods.with_columns(
        (_spread(_idx) - seen + p).alias("t"), (seen - open_protected).alias("closed_protected")
    )


def _runs(qualifying: pl.LazyFrame, definition: StreakDef) -> pl.LazyFrame:
    """One row per run (at its last qualifying period) with its start, length, forgiven periods and the subscriber's
    longest run so far; `last_run` marks each subscriber's latest one. A subscriber's first period breaks like any
    other: the one before it lies SPREAD away."""
    per, need = definition.freezes.per, definition.freezes.per - definition.freezes.allowed
    gap = _t - _t.shift(1) - 1
    anchor = _t.shift(need)  # the need-th qualifying period back
    breaks = (gap > 0).fill_null(True) & (anchor < _t - per).fill_null(True)
    marked = qualifying.with_columns(
        breaks.alias("breaks"),
        (_grp != _grp.shift(-1)).fill_null(True).alias("last_run"),
        pl.when(breaks).then(0).otherwise(gap).cum_sum().alias("forgiven"),
        # the window the open period will see: the (need - 1)-th qualifying period back from the last one
        _t.shift(need - 1).alias("tail_anchor"),
    ).with_columns(pl.col("breaks").shift(-1).fill_null(True).alias("run_end"))
    edges = marked.filter(pl.col("breaks") | pl.col("run_end"))  # each run's first and last rows are enough
    at_break = pl.when("breaks")
    forgiven = pl.col("forgiven") - at_break.then(pl.col("forgiven")).forward_fill()
    runs = edges.with_columns(
        forgiven.cast(pl.Int32).alias("freezes_used"),
        # every place of the timeline from the run's first period to this one qualified or was forgiven
        (_t - at_break.then(_t).forward_fill() + 1 - forgiven).cast(pl.Int32).alias("length"),
        at_break.then(_idx).forward_fill().alias("start"),
    ).filter("run_end")
    # the longest run so far: a running maximum that cannot cross subscribers, as grp leads the compared value
    scaled = _grp.cast(pl.Int64) * GROUP
    longest = ((scaled + pl.col("length")).cum_max() - scaled).cast(pl.Int32)
    return runs.select(
        _grp, _idx, _t, "start", "length", "freezes_used", "last_run", "tail_anchor", longest.alias("longest")
    )


def _close(last: pl.DataFrame, definition: StreakDef) -> pl.DataFrame:
    """Whether each subscriber's latest run survives the missed periods between it and the open period, and the
    missed periods it has forgiven since its last qualifying one."""
    trail = pl.col("t_open") - _t - 1
    anchor = pl.col("tail_anchor")
    alive = (trail <= 0) | (anchor.is_not_null() & (anchor >= pl.col("t_open") - definition.freezes.per))
    return last.with_columns(alive.alias("alive"), trail.clip(lower_bound=0).cast(pl.Int32).alias("trail"))


def _summary(last: pl.DataFrame) -> pl.DataFrame:
    alive = pl.col("alive")
    forgiven = pl.col("freezes_used") + pl.col("trail")
    return last.select(
        _grp,
        pl.when(alive).then(pl.col("length")).otherwise(0).cast(pl.Int32).alias("current"),
        pl.col("longest"),
        _idx.alias("last_period"),
        pl.when(alive).then(forgiven).otherwise(0).cast(pl.Int32).alias("freezes_used"),
    )


def _run_rows(
    layout: Layout, runs: pl.DataFrame, last: pl.DataFrame, definition: StreakDef, since: dt.date
) -> pl.DataFrame:
    """The runs ending on or after `since`; the latest one of each subscriber as `_close` judged it."""
    tails = last.select(_grp, pl.lit(True).alias("last_run"), "alive", "trail")
    ended = runs.filter(_date(_idx, definition) >= since).join(tails, on=["grp", "last_run"], how="left")
    rows = ended.select(
        _grp,
        _date(pl.col("start"), definition).alias("start"),
        _date(_idx, definition).alias("end"),
        pl.col("length"),
        (pl.col("freezes_used") + pl.when("alive").then(pl.col("trail")).otherwise(0))
        .cast(pl.Int32)
        .alias("freezes_used"),
        pl.col("alive").fill_null(False),
    )
    return layout.named(rows).with_columns(pl.lit(definition.key).alias("streak_key")).select(*RUNS)


def _date(index: pl.Expr, definition: StreakDef) -> pl.Expr:
    """A period number back to the date it starts on (a week's Monday)."""
    day = index if definition.period == "day" else index * 7 - MONDAY
    return day.cast(pl.Int32).cast(pl.Date)
