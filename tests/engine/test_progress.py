"""The progress stage: folding batches one by one gives what evaluating the whole history gives, whatever the order
the batches arrive in; only assignments whose window holds a batch event move; composites and ordered steps."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from questline.engine.progress import advance, affected, settle
from questline.engine.service import batches
from questline.events.schema import EVENT_SCHEMA
from questline.events.vocabulary import EVENT_TYPES
from questline.rules.criteria import Criteria, parse_criteria
from questline.rules.evaluate import evaluate

TZ = "Europe/London"
START = dt.datetime(2026, 3, 23, tzinfo=dt.UTC)  # a Monday; the clocks change on the Sunday
END = START + dt.timedelta(days=14)
AS_OF = END + dt.timedelta(days=1)
LEAVES: dict[str, dict[str, Any]] = {
    "count": {"events": {"types": ["sms"]}, "measure": "count", "target": 6},
    "sum": {"events": {"types": ["data_session"]}, "measure": "sum", "target": "{bytes}"},
    "days": {"events": {"types": ["sms", "data_session"]}, "measure": "distinct_days", "target": 4},
    "streak": {"events": {"types": ["sms"]}, "measure": "streak", "target": 3},
    "values": {"events": {"types": ["feature_used"]}, "measure": "distinct_values", "field": "feature", "target": 2},
    "first": {"events": {"types": ["app_install"]}, "measure": "first"},
    "none": {"events": {"types": ["complaint"]}, "measure": "absence"},
}
COMPOSITES: dict[str, dict[str, Any]] = {
    "all": {"all": [LEAVES["count"], LEAVES["sum"]]},
    "any": {"any": [LEAVES["streak"], LEAVES["values"]]},
}
STEPS = {"steps": [LEAVES["first"], {"events": {"types": ["app_login"]}, "measure": "first"}]}


def criteria_of(specs: dict[str, dict[str, Any]]) -> dict[tuple[str, int], Criteria]:
    return {(key, 1): parse_criteria(spec) for key, spec in specs.items()}


def missions(keys: list[str], subscribers: list[str]) -> pl.DataFrame:
    rows = [
        {"subscriber_id": s, "template_key": k, "template_version": 1, "starts_at": START, "ends_at": END}
        for k in keys
        for s in subscribers
    ]
    frame = pl.DataFrame(rows).with_row_index("assignment_id")
    return frame.with_columns(
        pl.col("assignment_id").cast(pl.UInt64),
        pl.col("starts_at", "ends_at").dt.cast_time_unit("us"),
        pl.when(pl.col("template_key").is_in(["sum", "all"])).then(1e6).alias("p_bytes"),
    )


TYPES = ("sms", "data_session", "feature_used", "app_install", "app_login", "complaint")
FEATURES = ("balance", "top_up", "shop")


def events(rows: list[tuple[str, int, int, str]]) -> pl.DataFrame:
    """(subscriber, day offset, hour, type) -> normalized events; day -1 and 15 fall outside the window."""
    data = [
        {
            "event_id": i,
            "subscriber_id": who,
            "event_time": START + dt.timedelta(days=day, hours=hour),
            "event_type": kind,
            "value": 4e5 if kind == "data_session" else 1.0,
            "unit": EVENT_TYPES[kind].unit.value,
            "source_kind": EVENT_TYPES[kind].kind.value,
            "source": "test",
            "feature": FEATURES[i % len(FEATURES)] if kind == "feature_used" else None,
        }
        for i, (who, day, hour, kind) in enumerate(rows)
    ]
    frame = pl.DataFrame(data, schema_overrides={"event_time": pl.Datetime("us", "UTC")})
    return frame.select(
        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c) for c, t in EVENT_SCHEMA.items()
    )


def folded(
    batches: list[pl.DataFrame], assignments: pl.DataFrame, rules: dict[tuple[str, int], Criteria]
) -> dict[int, Any]:
    """Batches folded one after another, then the ended missions settled: assignment -> (value, completed)."""
    states: dict[str, pl.DataFrame] = {}
    for batch in batches:
        if batch.is_empty():
            continue
        ran = advance(batch, assignments, rules, states, as_of=AS_OF, timezone=TZ)
        for key, state in ran.states.items():
            previous = states.get(key)
            states[key] = (
                state
                if previous is None
                else pl.concat([previous.join(state.select("assignment_id"), on="assignment_id", how="anti"), state])
            )
    final = settle(assignments, rules, states, as_of=AS_OF, timezone=TZ)
    return {r["assignment_id"]: (r["value"], r["completed"]) for r in final.iter_rows(named=True)}


def whole(history: pl.DataFrame, assignments: pl.DataFrame, rules: dict[tuple[str, int], Criteria]) -> dict[int, Any]:
    found = {}
    for (key, _), group in assignments.partition_by("template_key", "template_version", as_dict=True).items():
        rule = rules[(str(key), 1)]
        used = group.select(pl.exclude("template_key", "template_version"))
        if "{bytes}" not in str(rule):
            used = used.drop("p_bytes")
        result = evaluate(rule, history, used, as_of=AS_OF, timezone=TZ)
        found |= {r["assignment_id"]: (r["value"], r["completed"]) for r in result.iter_rows(named=True)}
    return found


event_rows = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(-1, 15), st.integers(0, 23), st.sampled_from(TYPES)),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(rows=event_rows, cuts=st.lists(st.integers(0, 60), max_size=3), shuffle=st.randoms())
def test_batches_in_any_order_give_what_the_whole_history_gives(rows: list[Any], cuts: list[int], shuffle: Any) -> None:
    specs = LEAVES | COMPOSITES
    rules = criteria_of(specs)
    assignments = missions(list(specs), ["a", "b", "c"])
    history = events(rows)
    order = list(range(len(rows)))
    shuffle.shuffle(order)  # late and out-of-order events: batches hold any mix of days
    bounds = sorted({0, len(rows), *(min(c, len(rows)) for c in cuts)})
    batches = [history[order[lo:hi]] for lo, hi in itertools.pairwise(bounds)]
    assert folded(batches, assignments, rules) == whole(history, assignments, rules)


def test_only_assignments_whose_window_holds_an_event_move() -> None:
    assignments = missions(["count"], ["a", "b", "c"])
    batch = events([("a", 2, 10, "sms"), ("b", 20, 10, "sms"), ("z", 2, 10, "sms")])
    touched = affected(batch, assignments)
    assert touched.get_column("subscriber_id").to_list() == ["a"]


def test_ordered_steps_are_evaluated_over_their_history() -> None:
    rules = criteria_of({"steps": STEPS})
    assignments = missions(["steps"], ["a", "b"]).drop("p_bytes")
    history = events(
        [("a", 1, 9, "app_install"), ("a", 2, 9, "app_login"), ("b", 1, 9, "app_login"), ("b", 2, 9, "app_install")]
    )
    with pytest.raises(ValueError, match="history"):
        advance(history, assignments, rules, {}, as_of=AS_OF, timezone=TZ)
    ran = advance(history, assignments, rules, {}, as_of=AS_OF, timezone=TZ, history=lambda m: history)
    done = dict(zip(ran.results.get_column("assignment_id"), ran.results.get_column("completed"), strict=True))
    assert done == {0: True, 1: False}


def test_an_absence_completes_only_when_settled_after_the_window() -> None:
    rules = criteria_of({"none": LEAVES["none"]})
    assignments = missions(["none"], ["a", "b"]).drop("p_bytes")
    batch = events([("b", 3, 12, "complaint"), ("a", 3, 12, "sms")])
    during = advance(batch, assignments, rules, {}, as_of=START + dt.timedelta(days=5), timezone=TZ)
    assert not during.results.get_column("completed").any()
    after = settle(assignments, rules, during.states, as_of=AS_OF, timezone=TZ)
    assert after.get_column("completed").to_list() == [True, False]


def test_small_days_are_grouped_into_batches_in_date_order() -> None:
    pending = {f"2026-01-{d:02d}": [f"f{d}a.parquet", f"f{d}b.parquet"] for d in range(1, 11)}
    grouped = batches(pending, files_per_batch=6)
    assert [list(g) for g in grouped] == [
        ["2026-01-01", "2026-01-02", "2026-01-03"],
        ["2026-01-04", "2026-01-05", "2026-01-06"],
        ["2026-01-07", "2026-01-08", "2026-01-09"],
        ["2026-01-10"],
    ]
