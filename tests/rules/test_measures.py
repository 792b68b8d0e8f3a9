"""The measures as incremental aggregators, table-driven: initialize, agg (with and without a prior state), merge and
result, on hand-made rows of matched events; and the column kernels under them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from questline.rules.criteria import Leaf, parse_criteria
from questline.rules.kernels import has_run, longest_run, low_bits, running_sum
from questline.rules.measures import Measure, measure_of

TIME = pl.Datetime("us", "UTC")
DAY0 = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)


def t(hours: float) -> dt.datetime:
    return DAY0 + dt.timedelta(hours=hours)


def measure(name: str, **fields: Any) -> Measure:
    leaf = parse_criteria({"events": {"types": ["recharge"]}, "measure": name, **fields})
    assert isinstance(leaf, Leaf)
    return measure_of(leaf)


def rows(target: float, *items: tuple[Any, ...], column: str | None = None) -> pl.DataFrame:
    """Matched events as `agg` gets them: (_row, hours after DAY0[, input]) sorted by row and time."""
    data: dict[str, Any] = {
        "_row": pl.Series([i[0] for i in items], dtype=pl.UInt32),
        "event_time": pl.Series([t(i[1]) for i in items], dtype=TIME),
        "target": pl.Series([target] * len(items), dtype=pl.Float64),
    }
    if column == "day":
        data["day"] = pl.Series([int(i[1] // 24) for i in items], dtype=pl.Int64)
    elif column:
        data[column] = [i[2] for i in items]
    return pl.DataFrame(data).sort("_row", "event_time")


def results(m: Measure, state: pl.DataFrame) -> dict[int, tuple[float, dt.datetime | None]]:
    return {r["_row"]: (r["value"], r["completed_at"]) for r in m.result(state).iter_rows(named=True)}


# (measure, fields, column, target, events as (row, hours[, input]), expected {row: (value, completed_at hours)})
AGG = [
    ("count", {"target": 2}, None, 2, [(0, 1), (0, 5), (0, 9), (1, 3)], {0: (3, 5), 1: (1, None)}),
    (
        "sum",
        {"target": 10},
        "x",
        10,
        [(0, 1, 4.0), (0, 2, None), (0, 3, 6.0), (1, 1, 9.5)],
        {0: (10, 3), 1: (9.5, None)},
    ),
    ("distinct_days", {"target": 2}, "day", 2, [(0, 1), (0, 5), (0, 30), (0, 31), (1, 50)], {0: (2, 30), 1: (1, None)}),
    (
        "distinct_values",
        {"field": "feature", "target": 2},
        "v",
        2,
        [(0, 1, "a"), (0, 2, "a"), (0, 3, "b"), (1, 1, "c")],
        {0: (2, 3), 1: (1, None)},
    ),
    (
        "streak",
        {"target": 2},
        "day",
        2,
        [(0, 1), (0, 50), (0, 74), (0, 75), (1, 1), (1, 49)],
        {0: (2, 74), 1: (1, None)},
    ),
    ("first", {}, None, 1, [(0, 7), (0, 9), (1, 2)], {0: (1, 7), 1: (1, 2)}),
]


@pytest.mark.parametrize(("name", "fields", "column", "target", "events", "expected"), AGG, ids=[a[0] for a in AGG])
def test_agg_then_result(
    name: str, fields: dict[str, Any], column: str | None, target: float, events: list[Any], expected: dict[int, Any]
) -> None:
    m = measure(name, **fields)
    state = m.agg(rows(target, *events, column=column), None)
    assert set(state.columns) == {"_row", "target", *m.columns, "completed_at", "last_at"}
    assert results(m, state) == {row: (value, t(h) if h is not None else None) for row, (value, h) in expected.items()}


# The same events cut in two at a time: the second batch folded into the first's state gives the same result.
@pytest.mark.parametrize(("name", "fields", "column", "target", "events", "expected"), AGG, ids=[a[0] for a in AGG])
@pytest.mark.parametrize("cut", [0, 4, 40, 1000])
def test_agg_with_a_prior_state_and_merge(
    name: str,
    fields: dict[str, Any],
    column: str | None,
    target: float,
    events: list[Any],
    expected: dict[int, Any],
    cut: float,
) -> None:
    m = measure(name, **fields)
    before = rows(target, *(e for e in events if e[1] < cut), column=column)
    after = rows(target, *(e for e in events if e[1] >= cut), column=column)
    prior = m.agg(before, None)
    folded = m.merge(prior, m.agg(after, prior))
    assert results(m, folded) == {row: (v, t(h) if h is not None else None) for row, (v, h) in expected.items()}
    merged = m.merge(prior, m.agg(after, None))  # without the order: values exact, completion an upper bound
    for row, (value, at) in results(m, merged).items():
        assert value == expected[row][0]
        assert (at is None) == (expected[row][1] is None)
        assert at is None or at >= t(expected[row][1])


def test_initialize_is_the_empty_state() -> None:
    for name, fields in [("count", {"target": 1}), ("sum", {"target": 1}), ("distinct_days", {"target": 1})]:
        m = measure(name, **fields)
        empty = pl.select(**m.initialize())
        assert empty.schema == pl.Schema(m.columns)
    assert pl.select(**measure("distinct_values", field="feature", target=1).initialize()).item().to_list() == []
    assert pl.select(**measure("first").initialize()).item() is None


def test_absence_states_record_violations_and_never_complete_alone() -> None:
    per_event = measure("absence")
    state = per_event.agg(rows(1, (0, 5), (0, 2)), None)
    assert state.select("first_at", "completed_at").row(0) == (t(2), None)
    per_day = measure("absence", per="day")
    state = per_day.merge(
        per_day.agg(rows(1, (0, 1), column="day"), None), per_day.agg(rows(1, (0, 50), column="day"), None)
    )
    assert state.select("mask", "completed_at").row(0) == (0b101, None)


# ---- kernels -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "values", "expected"),
    [
        ([], [], []),
        ([0], [5.0], [5.0]),
        ([0, 0, 0, 1, 1, 2], [1.0, 2.0, 3.0, 10.0, 20.0, 7.0], [1.0, 3.0, 6.0, 10.0, 30.0, 7.0]),
        ([3] * 9, [1.0] * 9, [float(i) for i in range(1, 10)]),
        ([0, 0, 1], [0.1, 0.2, 0.3], [0.1, 0.1 + 0.2, 0.3]),
    ],
)
def test_running_sum_stays_within_each_group(keys: list[int], values: list[float], expected: list[float]) -> None:
    frame = pl.DataFrame({"_row": pl.Series(keys, dtype=pl.UInt32), "v": pl.Series(values, dtype=pl.Float64)})
    assert running_sum(frame, "v").to_list() == expected


def test_running_sum_of_distinct_bits_is_their_union_without_overflow() -> None:
    bits = [1 << 63, 1 << 62, 1, 1 << 5]
    frame = pl.DataFrame({"_row": pl.Series([0, 0, 0, 1], dtype=pl.UInt32), "b": pl.Series(bits, dtype=pl.UInt64)})
    assert running_sum(frame, "b").to_list() == [1 << 63, (1 << 63) | (1 << 62), (1 << 63) | (1 << 62) | 1, 1 << 5]


@pytest.mark.parametrize(
    ("mask", "longest"),
    [(0, 0), (1, 1), (0b1011, 2), (0b111011101111, 4), ((1 << 64) - 1, 64), ((1 << 63) | (1 << 62), 2)],
)
def test_longest_run(mask: int, longest: int) -> None:
    assert longest_run(pl.Series([mask], dtype=pl.UInt64)).to_list() == [longest]


@pytest.mark.parametrize(
    ("mask", "length", "expected"),
    [(0, 1, False), (0b1, 1, True), (0b1101, 2, True), (0b1101, 3, False), ((1 << 64) - 1, 64, True), (1, 65, False)],
)
def test_has_run(mask: int, length: float, expected: bool) -> None:
    masks = pl.Series([mask], dtype=pl.UInt64)
    assert has_run(masks, pl.Series([length], dtype=pl.Float64)).to_list() == [expected]


def test_low_bits() -> None:
    counts = pl.Series("n", [0, 1, 3, 63, 64], dtype=pl.Int64)
    assert pl.select(low_bits(pl.lit(counts))).to_series().to_list() == [0, 1, 7, (1 << 63) - 1, (1 << 64) - 1]
