"""Evaluation of criteria over events for assigned missions: one small hand-made case per measure, window and
composite; local days across DST; late events; and, with hypothesis, that the vectorised evaluation matches a plain
Python reading of the rules and that states of any two batches merge into the history's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from questline.events.schema import EVENT_SCHEMA
from questline.kit.errors import Invalid
from questline.rules.criteria import Leaf, parse_criteria
from questline.rules.evaluate import RESULT, evaluate, leaf_result, leaf_state, merge_states

LONDON = "Europe/London"
TIME = pl.Datetime("us", "UTC")
US = dt.timedelta(microseconds=1)


def at(text: str) -> dt.datetime:
    """A UTC instant from ISO text (`2024-03-04T10:00`)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def event(subscriber: str, time: str, kind: str, value: float | None = 1.0, **attributes: Any) -> dict[str, Any]:
    return {"subscriber_id": subscriber, "event_time": at(time), "event_type": kind, "value": value, **attributes}


def events(*rows: dict[str, Any]) -> pl.DataFrame:
    data = [{"event_id": i, **row} for i, row in enumerate(rows)]
    return pl.DataFrame(data, schema=EVENT_SCHEMA)


def missions(*rows: tuple[Any, ...], **params: list[Any]) -> pl.DataFrame:
    """Rows of (assignment_id, subscriber_id, starts_at, ends_at); keyword lists become `p_<name>` columns."""
    frame = pl.DataFrame(
        [(a, s, at(b), at(e)) for a, s, b, e in rows],
        schema={"assignment_id": pl.UInt64, "subscriber_id": pl.String, "starts_at": TIME, "ends_at": TIME},
        orient="row",
    )
    return frame.with_columns(pl.Series(f"p_{name}", values) for name, values in params.items())


def leaf(measure: str, types: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    return {"events": {"types": types or ["recharge"]}, "measure": measure, **fields}


# A week from Monday 4 March 2024 (London is on UTC until 31 March).
WEEK = missions((1, "a", "2024-03-04T00:00", "2024-03-11T00:00"))
AS_OF = at("2024-03-10T12:00")


@dataclass
class Case:
    name: str
    criteria: dict[str, Any]
    events: list[dict[str, Any]]
    expected: list[tuple[float, bool, str | None]]  # value, completed, completed_at per assignment
    missions: pl.DataFrame = field(default_factory=lambda: WEEK)
    as_of: dt.datetime = AS_OF
    timezone: str = LONDON
    target: list[float] | None = None


CASES = [
    Case(
        "count: matching events in the mission, completed by the target-th",
        leaf("count", target=2),
        [
            event("a", "2024-03-03T23:59", "recharge"),  # before the mission
            event("a", "2024-03-04T10:00", "recharge"),
            event("a", "2024-03-05T10:00", "recharge"),
            event("a", "2024-03-05T11:00", "sms"),  # another type
            event("b", "2024-03-05T12:00", "recharge"),  # another subscriber
            event("a", "2024-03-06T10:00", "recharge"),
            event("a", "2024-03-10T13:00", "recharge"),  # at or after as_of: not yet
        ],
        [(3, True, "2024-03-05T10:00")],
    ),
    Case("count: nothing yet", leaf("count", target=2), [], [(0, False, None)], target=[2.0]),
    Case(
        "sum with a where filter",
        {
            "events": {"types": ["recharge"], "where": [{"field": "channel", "op": "in", "value": ["app", "web"]}]},
            "measure": "sum",
            "target": 50,
        },
        [
            event("a", "2024-03-04T10:00", "recharge", 20, channel="app"),
            event("a", "2024-03-05T10:00", "recharge", 40, channel="ussd"),
            event("a", "2024-03-05T11:00", "recharge", 15, channel=None),
            event("a", "2024-03-06T10:00", "recharge", 35, channel="web"),
        ],
        [(55, True, "2024-03-06T10:00")],
    ),
    Case(
        "sum: a missing value counts as 0",
        leaf("sum", target=100),
        [event("a", "2024-03-04T10:00", "recharge", 30), event("a", "2024-03-05T10:00", "recharge", None)],
        [(30, False, None)],
    ),
    Case(
        "distinct_days: local days with an event",
        leaf("distinct_days", ["app_login", "sms"], target=3),
        [
            event("a", "2024-03-04T10:00", "app_login"),
            event("a", "2024-03-04T18:00", "sms"),
            event("a", "2024-03-06T09:00", "app_login"),
            event("a", "2024-03-08T20:00", "sms"),
            event("a", "2024-03-09T20:00", "sms"),
        ],
        [(4, True, "2024-03-08T20:00")],
    ),
    Case(
        "distinct_values of an attribute; nulls are not a value",
        leaf("distinct_values", ["feature_used"], field="feature", target=3),
        [
            event("a", "2024-03-04T10:00", "feature_used", feature="x"),
            event("a", "2024-03-04T11:00", "feature_used", feature="y"),
            event("a", "2024-03-05T10:00", "feature_used", feature="x"),
            event("a", "2024-03-05T11:00", "feature_used", feature=None),
            event("a", "2024-03-07T10:00", "feature_used", feature="z"),
        ],
        [(3, True, "2024-03-07T10:00")],
    ),
    Case(
        "streak: the longest run of consecutive local days",
        leaf("streak", ["data_session"], target=3),
        [
            event("a", "2024-03-04T10:00", "data_session"),
            event("a", "2024-03-05T10:00", "data_session"),
            event("a", "2024-03-07T10:00", "data_session"),
            event("a", "2024-03-08T23:00", "data_session"),
            event("a", "2024-03-09T08:00", "data_session"),
            event("a", "2024-03-09T09:00", "data_session"),
        ],
        [(3, True, "2024-03-09T08:00")],
    ),
    Case(
        "streak: short of the target",
        leaf("streak", ["data_session"], target=3),
        [event("a", "2024-03-04T10:00", "data_session"), event("a", "2024-03-06T10:00", "data_session")],
        [(1, False, None)],
    ),
    Case(
        "first: the first matching event",
        leaf("first", ["app_install"]),
        [event("a", "2024-03-06T10:00", "app_install"), event("a", "2024-03-07T10:00", "app_install")],
        [(1, True, "2024-03-06T10:00")],
    ),
    Case(
        "absence per event, window running: days elapsed so far",
        leaf("absence", ["complaint"]),
        [event("a", "2024-03-03T10:00", "complaint")],  # before the mission
        [(6, False, None)],
        target=[7.0],
    ),
    Case(
        "absence per event, window over without a violation: complete at its end",
        leaf("absence", ["complaint"]),
        [event("a", "2024-03-11T10:00", "complaint")],  # after the mission
        [(7, True, "2024-03-11T00:00")],
        as_of=at("2024-03-12T00:00"),
    ),
    Case(
        "absence per event, violated: no progress, never complete",
        leaf("absence", ["complaint"]),
        [event("a", "2024-03-05T10:00", "complaint")],
        [(0, False, None)],
        as_of=at("2024-03-12T00:00"),
    ),
    Case(
        "absence per day: every elapsed day active so far (today is not over)",
        leaf("absence", ["voice_call"], per="day"),
        [event("a", f"2024-03-{d:02d}T10:00", "voice_call") for d in range(4, 10)],
        [(6, False, None)],
    ),
    Case(
        "absence per day: an inactive day fails it",
        leaf("absence", ["voice_call"], per="day"),
        [event("a", f"2024-03-{d:02d}T10:00", "voice_call") for d in (4, 5, 7, 8, 9, 10)],
        [(0, False, None)],
        as_of=at("2024-03-12T00:00"),
    ),
    Case(
        "absence per day: no inactive day in the whole mission",
        leaf("absence", ["voice_call"], per="day"),
        [event("a", f"2024-03-{d:02d}T23:59", "voice_call") for d in range(4, 11)],
        [(7, True, "2024-03-11T00:00")],
        as_of=at("2024-03-11T00:00"),
    ),
    Case(
        "daily window: as_of's local day only",
        leaf("count", target=2, window={"kind": "daily"}),
        [event("a", "2024-03-09T23:59", "recharge"), event("a", "2024-03-10T00:00", "recharge")],
        [(1, False, None)],
    ),
    Case(
        "rolling window: the 3 local days ending with as_of's",
        leaf("sum", target=50, window={"kind": "rolling", "days": 3}),
        [
            event("a", "2024-03-07T23:00", "recharge", 40),
            event("a", "2024-03-08T00:00", "recharge", 20),
            event("a", "2024-03-10T09:00", "recharge", 30),
        ],
        [(50, True, "2024-03-10T09:00")],
    ),
    Case(
        "weekly window: Monday to Sunday holding as_of, clipped to the mission",
        leaf("distinct_days", ["app_login"], target=2, window={"kind": "weekly"}),
        [
            event("a", "2024-03-08T10:00", "app_login"),  # Friday of the week before
            event("a", "2024-03-10T10:00", "app_login"),  # Sunday before: the week before
            event("a", "2024-03-11T10:00", "app_login"),  # Monday
            event("a", "2024-03-12T10:00", "app_login"),
        ],
        [(2, True, "2024-03-12T10:00")],
        missions=missions((1, "a", "2024-03-06T00:00", "2024-03-20T00:00")),
        as_of=at("2024-03-13T10:00"),
    ),
    Case(
        "weekly window of a mission that ended: its last week",
        leaf("count", ["app_login"], target=3, window={"kind": "weekly"}),
        [
            event("a", "2024-03-10T10:00", "app_login"),  # the week before
            event("a", "2024-03-11T10:00", "app_login"),
            event("a", "2024-03-14T10:00", "app_login"),
            event("a", "2024-03-15T10:00", "app_login"),  # after the mission
        ],
        [(2, False, None)],
        missions=missions((1, "a", "2024-03-06T00:00", "2024-03-15T00:00")),
        as_of=at("2024-03-20T10:00"),
    ),
    Case(
        "monthly window: the calendar month holding as_of",
        leaf("count", ["app_login"], target=2, window={"kind": "monthly"}),
        [event("a", "2024-02-29T10:00", "app_login"), event("a", "2024-03-01T10:00", "app_login")],
        [(1, False, None)],
        missions=missions((1, "a", "2024-02-20T00:00", "2024-03-20T00:00")),
    ),
    Case(
        "local days across the spring DST change: 23:30 UTC on 31 March is 1 April in London",
        leaf("streak", ["data_session"], target=2),
        [event("a", "2024-03-30T23:30", "data_session"), event("a", "2024-03-31T23:30", "data_session")],
        [(1, False, None)],
        missions=missions((1, "a", "2024-03-25T00:00", "2024-04-05T00:00")),
        as_of=at("2024-04-03T00:00"),
    ),
    Case(
        "the same events in UTC are two consecutive days",
        leaf("streak", ["data_session"], target=2),
        [event("a", "2024-03-30T23:30", "data_session"), event("a", "2024-03-31T23:30", "data_session")],
        [(2, True, "2024-03-31T23:30")],
        missions=missions((1, "a", "2024-03-25T00:00", "2024-04-05T00:00")),
        as_of=at("2024-04-03T00:00"),
        timezone="UTC",
    ),
    Case(
        "daily window just after local midnight in summer time",
        leaf("count", ["sms"], target=5, window={"kind": "daily"}),
        [event("a", "2024-03-31T12:00", "sms"), event("a", "2024-03-31T23:10", "sms")],
        [(1, False, None)],
        missions=missions((1, "a", "2024-03-25T00:00", "2024-04-05T00:00")),
        as_of=at("2024-03-31T23:30"),
    ),
    Case(
        "autumn: the 25-hour local day of 27 October holds 23:30 UTC on the 26th",
        leaf("distinct_days", ["sms"], target=2),
        [event("a", "2024-10-26T22:30", "sms"), event("a", "2024-10-26T23:30", "sms")],
        [(2, True, "2024-10-26T23:30")],
        missions=missions((1, "a", "2024-10-20T00:00", "2024-10-30T00:00")),
        as_of=at("2024-10-29T00:00"),
    ),
    Case(
        "absence per day across the DST change: three local days, each active",
        leaf("absence", ["sms"], per="day"),
        [event("a", t, "sms") for t in ("2024-03-30T12:00", "2024-03-31T12:00", "2024-04-01T22:30")],
        [(3, True, "2024-04-01T23:00")],
        missions=missions((1, "a", "2024-03-30T00:00", "2024-04-01T23:00")),  # local midnight to local midnight
        as_of=at("2024-04-03T00:00"),
    ),
    Case(
        "personal targets and values from p_ columns",
        {
            "events": {"types": ["bundle_purchase"], "where": [{"field": "product", "op": "eq", "value": "{product}"}]},
            "measure": "count",
            "target": "{times}",
        },
        [
            event("a", "2024-03-04T10:00", "bundle_purchase", product="gold"),
            event("a", "2024-03-05T10:00", "bundle_purchase", product="silver"),
            event("b", "2024-03-05T10:00", "bundle_purchase", product="silver"),
        ],
        [(1, True, "2024-03-04T10:00"), (0, False, None), (1, False, None)],
        missions=missions(
            (1, "a", "2024-03-04T00:00", "2024-03-11T00:00"),
            (2, "a", "2024-03-04T00:00", "2024-03-11T00:00"),
            (3, "b", "2024-03-04T00:00", "2024-03-11T00:00"),
            product=["gold", "bronze", "silver"],
            times=[1.0, 1.0, 2.0],
        ),
        target=[1.0, 1.0, 2.0],
    ),
    Case(
        "a personal list for `in`",
        {
            "events": {"types": ["recharge"], "where": [{"field": "channel", "op": "in", "value": "{channels}"}]},
            "measure": "count",
            "target": 1,
        },
        [event("a", "2024-03-04T10:00", "recharge", channel="web")],
        [(1, True, "2024-03-04T10:00"), (0, False, None)],
        missions=missions(
            (1, "a", "2024-03-04T00:00", "2024-03-11T00:00"),
            (2, "a", "2024-03-04T00:00", "2024-03-11T00:00"),
            channels=[["app", "web"], ["ussd"]],
        ),
    ),
    Case(
        "ne and not_in let a null attribute through",
        {
            "events": {
                "types": ["recharge"],
                "where": [
                    {"field": "channel", "op": "ne", "value": "ussd"},
                    {"field": "value", "op": "ge", "value": 5},
                ],
            },
            "measure": "count",
            "target": 9,
        },
        [
            event("a", "2024-03-04T10:00", "recharge", 10, channel=None),
            event("a", "2024-03-04T11:00", "recharge", 10, channel="ussd"),
            event("a", "2024-03-04T12:00", "recharge", 2, channel="app"),
            event("a", "2024-03-04T13:00", "recharge", 5, channel="app"),
        ],
        [(2, False, None)],
    ),
    Case(
        "all: every child, completed with the last",
        {"all": [leaf("count", target=2), leaf("first", ["app_login"])]},
        [
            event("a", "2024-03-04T10:00", "recharge"),
            event("a", "2024-03-05T10:00", "recharge"),
            event("a", "2024-03-07T10:00", "app_login"),
        ],
        [(2, True, "2024-03-07T10:00")],
        target=[2.0],
    ),
    Case(
        "any: the earliest child",
        {"any": [leaf("count", target=2), leaf("first", ["app_login"])]},
        [
            event("a", "2024-03-04T10:00", "recharge"),
            event("a", "2024-03-05T10:00", "recharge"),
            event("a", "2024-03-04T12:00", "app_login"),
        ],
        [(1, True, "2024-03-04T12:00")],
        target=[1.0],
    ),
    Case(
        "steps: a step counts only events after the previous one completed",
        {"steps": [leaf("first", ["app_install"]), leaf("first", ["app_login"]), leaf("first", ["feature_used"])]},
        [
            event("a", "2024-03-04T10:00", "app_login"),  # before the install: does not count
            event("a", "2024-03-04T11:00", "feature_used"),
            event("a", "2024-03-05T10:00", "app_install"),
            event("a", "2024-03-06T10:00", "app_login"),
            event("a", "2024-03-07T10:00", "feature_used"),
        ],
        [(3, True, "2024-03-07T10:00")],
        target=[3.0],
    ),
    Case(
        "steps: later steps show no progress until reached",
        {"steps": [leaf("first", ["app_install"]), leaf("count", ["app_login"], target=2)]},
        [event("a", "2024-03-04T10:00", "app_login"), event("a", "2024-03-05T10:00", "app_login")],
        [(0, False, None)],
    ),
    Case(
        "steps: the event completing a step does not count for the next",
        {"steps": [leaf("first", ["app_login"]), leaf("first", ["app_login"])]},
        [event("a", "2024-03-04T10:00", "app_login")],
        [(1, False, None)],
    ),
]


def outcome(frame: pl.DataFrame) -> list[tuple[float, bool, str | None]]:
    def text(value: dt.datetime | None) -> str | None:
        return value.strftime("%Y-%m-%dT%H:%M") if value else None

    return [(r["value"], r["completed"], text(r["completed_at"])) for r in frame.iter_rows(named=True)]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cases(case: Case) -> None:
    result = evaluate(
        parse_criteria(case.criteria), events(*case.events), case.missions, as_of=case.as_of, timezone=case.timezone
    )
    assert result.schema == RESULT
    assert result.get_column("assignment_id").to_list() == case.missions.get_column("assignment_id").to_list()
    assert outcome(result) == case.expected
    if case.target is not None:
        assert result.get_column("target").to_list() == case.target
    fractions = result.select(pl.col("fraction").is_between(0, 1).all()).item()
    assert fractions


def test_fractions_of_leaves_and_composites() -> None:
    half = [event("a", "2024-03-04T10:00", "recharge")]
    cases = [
        (leaf("count", target=2), 0.5),
        ({"all": [leaf("count", target=2), leaf("first", ["app_login"])]}, 0.25),
        ({"any": [leaf("count", target=2), leaf("first", ["app_login"])]}, 0.5),
        ({"steps": [leaf("count", target=1), leaf("count", ["sms"], target=4)]}, 0.5),
        (leaf("absence", ["complaint"]), 6 / 7),
    ]
    for criteria, fraction in cases:
        result = evaluate(parse_criteria(criteria), events(*half), WEEK, as_of=AS_OF, timezone=LONDON)
        assert result.item(0, "fraction") == pytest.approx(fraction), criteria


def test_a_lazy_frame_of_events_is_read_once_with_only_the_columns_needed() -> None:
    lazy = events(event("a", "2024-03-04T10:00", "recharge", 20)).lazy()
    result = evaluate(parse_criteria(leaf("sum", target=10)), lazy, WEEK, as_of=AS_OF, timezone=LONDON)
    assert outcome(result) == [(20, True, "2024-03-04T10:00")]


def test_no_missions_gives_an_empty_result() -> None:
    empty = WEEK.clear()
    result = evaluate(parse_criteria(leaf("absence", per="day")), events(), empty, as_of=AS_OF, timezone=LONDON)
    assert result.is_empty() and result.schema == RESULT


# ---- late events and batches ----------------------------------------------------------------------------------------


def test_a_late_event_counts_like_any_other_when_the_history_is_evaluated() -> None:
    # Arrival order is not event time: the lake holds both, and as_of decides what counts.
    history = events(event("a", "2024-03-06T10:00", "recharge"), event("a", "2024-03-04T10:00", "recharge"))
    result = evaluate(parse_criteria(leaf("count", target=2)), history, WEEK, as_of=AS_OF, timezone=LONDON)
    assert outcome(result) == [(2, True, "2024-03-06T10:00")]


def test_a_late_event_folded_into_a_state_completes_at_its_own_time() -> None:
    criteria = parse_criteria(leaf("count", target=3))
    assert isinstance(criteria, Leaf)
    first = events(event("a", "2024-03-04T10:00", "recharge"), event("a", "2024-03-06T10:00", "recharge"))
    late = events(event("a", "2024-03-05T10:00", "recharge"))
    kw: dict[str, Any] = {"as_of": AS_OF, "timezone": LONDON}
    state = leaf_state(criteria, late, WEEK, prior=leaf_state(criteria, first, WEEK, **kw), **kw)
    # The value is the history's; the completion is the event that brought it, since the prior state counts first.
    assert outcome(leaf_result(criteria, state, WEEK, **kw)) == [(3, True, "2024-03-05T10:00")]
    history = evaluate(criteria, pl.concat([first, late]), WEEK, **kw)
    assert outcome(history) == [(3, True, "2024-03-06T10:00")]


def test_a_completed_state_keeps_its_completion_time() -> None:
    criteria = parse_criteria(leaf("count", target=1))
    assert isinstance(criteria, Leaf)
    kw: dict[str, Any] = {"as_of": AS_OF, "timezone": LONDON}
    done = leaf_state(criteria, events(event("a", "2024-03-06T10:00", "recharge")), WEEK, **kw)
    later = leaf_state(criteria, events(event("a", "2024-03-04T10:00", "recharge")), WEEK, prior=done, **kw)
    assert outcome(leaf_result(criteria, later, WEEK, **kw)) == [(2, True, "2024-03-06T10:00")]


# ---- refusals ------------------------------------------------------------------------------------------------------


def refused(criteria: dict[str, Any], frame: pl.DataFrame, **kw: Any) -> Invalid:
    options: dict[str, Any] = {"as_of": AS_OF, "timezone": LONDON, **kw}
    with pytest.raises(Invalid) as caught:
        evaluate(parse_criteria(criteria), events(), frame, **options)
    return caught.value


def test_a_parameter_without_a_column_is_refused() -> None:
    error = refused({"all": [leaf("count", target=1), leaf("sum", target="{amount}")]}, WEEK)
    assert error.field == "missions.p_amount" and "{amount}" in error.message


@pytest.mark.parametrize("bad", [None, 0.0, -1.0])
def test_a_personal_target_must_be_positive(bad: float | None) -> None:
    frame = missions(
        (1, "a", "2024-03-04T00:00", "2024-03-11T00:00"), (2, "b", "2024-03-04T00:00", "2024-03-11T00:00"), n=[3.0, bad]
    )
    error = refused({"any": [leaf("count", target="{n}")]}, frame)
    assert error.field == "missions.p_n"
    assert "criteria.any.0.target" in error.message and "assignment 2" in error.message


def test_a_day_mask_refuses_a_mission_longer_than_64_days() -> None:
    long = missions((7, "a", "2024-01-01T00:00", "2024-03-10T00:00"))
    error = refused({"steps": [leaf("first"), leaf("streak", target=3)]}, long)
    assert error.field == "criteria.steps.1.window"
    assert "assignment 7 spans 69 local days" in error.message
    # Measures without a day mask take any length.
    assert evaluate(parse_criteria(leaf("count", target=3)), events(), long, as_of=AS_OF, timezone=LONDON).height == 1


def test_bad_inputs_are_refused_naming_them() -> None:
    assert refused(leaf("count", target=1), WEEK, as_of=dt.datetime(2024, 3, 10)).field == "as_of"
    assert refused(leaf("count", target=1), WEEK, timezone="Mars/Olympus").field == "timezone"
    assert refused(leaf("count", target=1), WEEK.drop("starts_at")).field == "missions.starts_at"
    naive = WEEK.with_columns(pl.col("ends_at").dt.replace_time_zone(None))
    assert refused(leaf("count", target=1), naive).field == "missions.ends_at"
    with pytest.raises(Invalid) as caught:
        criteria = parse_criteria(leaf("distinct_values", ["feature_used"], field="feature", target=1))
        evaluate(criteria, events().drop("feature"), WEEK, as_of=AS_OF, timezone=LONDON)
    assert caught.value.field == "events.feature"


# ---- properties ----------------------------------------------------------------------------------------------------

QUARTERS = st.sampled_from(range(14 * 24 * 4))  # quarter hours of the events' fortnight (ties happen); uniform
ZONES = ["UTC", LONDON, "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
START = at("2024-03-24T00:00")
PROPERTY_MISSIONS = missions(
    (1, "a", "2024-03-25T00:00", "2024-04-05T00:00"),
    (2, "a", "2024-03-28T13:30", "2024-04-02T07:00"),
    (3, "b", "2024-03-20T00:00", "2024-04-10T00:00"),
    (4, "a", "2024-03-31T00:30", "2024-04-01T00:30"),
)
WINDOWS = [
    {"kind": "mission"},
    {"kind": "rolling", "days": 3},
    {"kind": "daily"},
    {"kind": "weekly"},
    {"kind": "monthly"},
]
TYPES = ["recharge", "app_login"]
MEASURES = [
    {"measure": "count", "target": 3},
    {"measure": "sum", "target": 40},
    {"measure": "distinct_days", "target": 2},
    {"measure": "distinct_values", "field": "feature", "target": 2},
    {"measure": "streak", "target": 2},
    {"measure": "first"},
    {"measure": "absence", "per": "event"},
    {"measure": "absence", "per": "day"},
]
WHERE = [[], [{"field": "value", "op": "ge", "value": 5}], [{"field": "feature", "op": "ne", "value": "x"}]]


@st.composite
def leaves(draw: st.DrawFn) -> Leaf:
    measure = dict(draw(st.sampled_from(MEASURES)))
    window = draw(st.sampled_from(WINDOWS))
    if window["kind"] == "daily" and measure["measure"] in ("distinct_days", "streak"):
        measure["target"] = 1
    types = draw(st.sampled_from([["recharge"], TYPES]))
    document = {"events": {"types": types, "where": draw(st.sampled_from(WHERE))}, **measure, "window": window}
    parsed = parse_criteria(document)
    assert isinstance(parsed, Leaf)
    return parsed


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["a", "a", "a", "b", "c"]),
                QUARTERS,
                st.sampled_from([*TYPES, *TYPES, "sms"]),
                st.integers(0, 30),
                st.sampled_from(["x", "y", "z", None]),
            ),
            min_size=10,
            max_size=60,
        )
    )
    return [
        {
            "subscriber_id": s,
            "event_time": START + dt.timedelta(minutes=15 * q),
            "event_type": kind,
            "value": float(value),
            "feature": feature,
        }
        for s, q, kind, value, feature in rows
    ]


AS_OFS = st.sampled_from(range(2 * 24, 15 * 24)).map(lambda hours: START + dt.timedelta(hours=hours, minutes=7))
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(leaves(), histories(), AS_OFS, st.sampled_from(ZONES))
def test_evaluation_matches_a_plain_reading_of_the_rules(
    criteria: Leaf, history: list[dict[str, Any]], as_of: dt.datetime, zone: str
) -> None:
    result = evaluate(criteria, events(*history), PROPERTY_MISSIONS, as_of=as_of, timezone=zone)
    expected = [oracle(criteria, history, m, as_of, zone) for m in PROPERTY_MISSIONS.iter_rows(named=True)]
    assert result.select("value", "target", "completed", "completed_at").rows() == expected


@PROPERTY
@given(leaves(), histories(), st.data(), AS_OFS, st.sampled_from(ZONES))
def test_merging_the_states_of_any_two_batches_gives_the_history(
    criteria: Leaf, history: list[dict[str, Any]], data: st.DataObject, as_of: dt.datetime, zone: str
) -> None:
    sides = data.draw(st.lists(st.booleans(), min_size=len(history), max_size=len(history)))
    one = [e for e, side in zip(history, sides, strict=True) if side]
    two = [e for e, side in zip(history, sides, strict=True) if not side]
    kw: dict[str, Any] = {"as_of": as_of, "timezone": zone}
    whole = evaluate(criteria, events(*history), PROPERTY_MISSIONS, **kw)
    states = [leaf_state(criteria, events(*batch), PROPERTY_MISSIONS, **kw) for batch in (one, two)]
    merged = leaf_result(criteria, merge_states(criteria, *states), PROPERTY_MISSIONS, **kw)
    columns = ["assignment_id", "value", "target", "fraction", "completed"]
    assert merged.select(columns).rows() == whole.select(columns).rows()
    # Without the interleaving of the two batches, the completion time is an upper bound of the exact one.
    for exact, bound in zip(whole.get_column("completed_at"), merged.get_column("completed_at"), strict=True):
        assert (exact is None) == (bound is None)
        assert exact is None or bound >= exact


@PROPERTY
@given(leaves(), histories(), QUARTERS, AS_OFS, st.sampled_from(ZONES))
def test_folding_a_later_batch_into_a_state_gives_the_history_exactly(
    criteria: Leaf, history: list[dict[str, Any]], cut: int, as_of: dt.datetime, zone: str
) -> None:
    cut_at = START + dt.timedelta(minutes=15 * cut)
    before = [e for e in history if e["event_time"] < cut_at]
    after = [e for e in history if e["event_time"] >= cut_at]
    kw: dict[str, Any] = {"as_of": as_of, "timezone": zone}
    prior = leaf_state(criteria, events(*before), PROPERTY_MISSIONS, **kw)
    state = leaf_state(criteria, events(*after), PROPERTY_MISSIONS, prior=prior, **kw)
    folded = leaf_result(criteria, state, PROPERTY_MISSIONS, **kw)
    assert folded.rows() == evaluate(criteria, events(*history), PROPERTY_MISSIONS, **kw).rows()


# ---- the plain reading ---------------------------------------------------------------------------------------------


def oracle(
    leaf: Leaf, history: list[dict[str, Any]], mission: dict[str, Any], as_of: dt.datetime, zone: str
) -> tuple[float, float, bool, dt.datetime | None]:
    """One assignment's (value, target, completed, completed_at), event by event, straight from docs/criteria.md."""
    tz = ZoneInfo(zone)

    def day(t: dt.datetime) -> dt.date:
        return t.astimezone(tz).date()

    starts, ends = mission["starts_at"], mission["ends_at"]
    ref = day(min(as_of, ends - US))
    low, high = _period(leaf, ref)
    first = max(day(starts), low) if low else day(starts)
    last = min(day(ends - US), high) if high else day(ends - US)
    counted = sorted(
        (
            e
            for e in history
            if _matches(leaf, e, mission, as_of) and (low is None or low <= day(e["event_time"]) <= high)
        ),
        key=lambda e: e["event_time"],
    )
    if leaf.measure == "absence":
        return _absence(leaf, counted, first, last, day, ends, as_of)
    target = float(leaf.target)  # type: ignore[arg-type]
    seen: list[dict[str, Any]] = []
    reached = None
    for e in counted:
        seen.append(e)
        if reached is None and _value(leaf, seen, day) >= target:
            reached = e["event_time"]
    value = _value(leaf, seen, day)
    return value, target, value >= target, reached


def _period(leaf: Leaf, ref: dt.date) -> tuple[dt.date | None, dt.date | None]:
    kind = leaf.window.kind
    if kind == "rolling":
        return ref - dt.timedelta(days=(leaf.window.days or 1) - 1), ref
    if kind == "daily":
        return ref, ref
    if kind == "weekly":
        monday = ref - dt.timedelta(days=ref.weekday())
        return monday, monday + dt.timedelta(days=6)
    if kind == "monthly":
        following = (ref.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return ref.replace(day=1), following - dt.timedelta(days=1)
    return None, None


def _matches(leaf: Leaf, e: dict[str, Any], mission: dict[str, Any], as_of: dt.datetime) -> bool:
    t = e["event_time"]
    if e["subscriber_id"] != mission["subscriber_id"] or e["event_type"] not in leaf.events.types:
        return False
    if not (mission["starts_at"] <= t < mission["ends_at"] and t < as_of):
        return False
    for p in leaf.events.where:
        value = e.get(p.field)
        if p.op == "ge" and not (value is not None and value >= p.value):  # type: ignore[operator]
            return False
        if p.op == "ne" and value == p.value:
            return False
    return not (leaf.measure == "distinct_values" and e.get(leaf.field or "") is None)


def _value(leaf: Leaf, seen: list[dict[str, Any]], day: Any) -> float:
    days = {day(e["event_time"]) for e in seen}
    if leaf.measure == "count":
        return float(len(seen))
    if leaf.measure == "sum":
        return float(sum(e["value"] or 0.0 for e in seen))
    if leaf.measure == "distinct_days":
        return float(len(days))
    if leaf.measure == "distinct_values":
        return float(len({e[leaf.field or ""] for e in seen}))
    if leaf.measure == "first":
        return 1.0 if seen else 0.0
    longest = 0
    for d in days:
        if d - dt.timedelta(days=1) not in days:
            run = 1
            while d + dt.timedelta(days=run) in days:
                run += 1
            longest = max(longest, run)
    return float(longest)


def _absence(
    leaf: Leaf,
    counted: list[dict[str, Any]],
    first: dt.date,
    last: dt.date,
    day: Any,
    ends: dt.datetime,
    as_of: dt.datetime,
) -> tuple[float, float, bool, dt.datetime | None]:
    days = max((last - first).days + 1, 0)
    ended = ends <= as_of
    elapsed = days if ended else min(max((day(as_of) - first).days, 0), days)
    if leaf.per == "day":
        active = {day(e["event_time"]) for e in counted}
        violated = any(first + dt.timedelta(days=i) not in active for i in range(elapsed))
    else:
        violated = bool(counted)
    done = ended and not violated
    return (0.0 if violated else float(elapsed)), float(max(days, 1)), done, ends if done else None
