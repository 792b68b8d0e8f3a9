"""Streaks: the definitions are validated naming the field at fault; `compute` follows the documented rules
(table-driven: freezes, outage days, open periods, weeks) and equals a plain per-subscriber loop over random
histories; the service stores only what changed, emits each event once, and repeated runs over out-of-order arrivals
end where a recompute from history does; weeks follow the operator's clock across DST changes - on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from questline.engine import streak_layout
from questline.engine.streak_rules import SHIPPED, StreakConfig
from questline.engine.streaks import compute, evaluate, load_streaks, subscriber_streaks, update_streaks
from questline.events.schema import EVENT_SCHEMA
from questline.events.store import EventStore
from questline.events.vocabulary import EVENT_TYPES
from questline.kit.errors import ConfigError, Invalid
from questline.kit.lake import Lake
from questline.models import OutboxEvent, StreakState
from questline.runtime import Runtime
from questline.scoring.daily import empty_daily

START = dt.date(2026, 3, 2)  # a Monday
SCHEMA = empty_daily().collect_schema()
ZEROS: dict[str, Any] = {
    name: (False if dtype == pl.Boolean() else 0)
    for name, dtype in SCHEMA.items()
    if name not in ("subscriber_id", "date", "plan", "features")
}
# One character per day: a qualifying day (one SMS), a day with events but none that counts, an outage day that
# does not qualify, one that does, and a day without any events (no row).
CODES: dict[str, dict[str, float]] = {
    "Q": {"sms": 1},
    "x": {},
    "o": {"outage_s": 600.0},
    "O": {"sms": 1, "outage_s": 600.0},
}


def definition(period: str = "day", allowed: int = 0, per: int = 1, protect: bool = True, **extra: Any) -> dict:
    return {
        "key": extra.pop("key", "texts"),
        "name": "Texts",
        "period": period,
        "condition": extra.pop("condition", {"field": "sms", "op": ">=", "value": 1}),
        "freezes": {"allowed": allowed, "per": per},
        "protect_outages": protect,
        **extra,
    }


def config(*definitions: dict) -> StreakConfig:
    return load_streaks({"version": 1, "streaks": list(definitions) or [definition()]})


def rows(patterns: dict[str, str], start: dt.date = START) -> list[dict[str, Any]]:
    return [
        {"subscriber_id": sub, "date": start + dt.timedelta(days=i), **CODES[c]}
        for sub, pattern in patterns.items()
        for i, c in enumerate(pattern)
        if c != "."
    ]


def daily_frame(found: list[dict[str, Any]]) -> pl.DataFrame:
    """Full daily-table rows: every metric zero unless given."""
    frame = pl.DataFrame([{**ZEROS, **row} for row in found] or None, schema_overrides=dict(SCHEMA))
    frame = frame.with_columns(pl.lit(None, pl.String).alias("plan"), pl.lit([], pl.List(pl.String)).alias("features"))
    return (
        frame.select(pl.col(name).cast(dtype) for name, dtype in SCHEMA.items()) if found else empty_daily().collect()
    )


def summary(patterns: dict[str, str], streaks: StreakConfig, as_of: dt.date) -> dict[str, tuple[Any, ...]]:
    found = compute(daily_frame(rows(patterns)).lazy(), streaks, as_of)
    return {
        r["subscriber_id"]: (r["current"], r["longest"], r["last_period"], r["freezes_used"]) for r in found.to_dicts()
    }


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


# ---- the document --------------------------------------------------------------------------------------------------


def test_the_shipped_definitions_load_and_include_what_badges_read() -> None:
    shipped = load_streaks()
    assert 3 <= len(shipped.streaks) <= 5
    assert {d.period for d in shipped.streaks} == {"day", "week"}
    assert shipped.get("daily_active") is not None  # the Streak Keeper badge reads it
    assert load_streaks(SHIPPED) == load_streaks(SHIPPED.read_text()) == shipped


DOCS = (Path(__file__).parents[2] / "docs" / "streaks.md").read_text()


def test_docs_show_every_shipped_definition() -> None:
    for d in load_streaks().streaks:
        assert f"| `{d.key}` | {d.period} |" in DOCS, d.key


def test_the_freezes_examples_in_the_docs_hold() -> None:
    examples = re.findall(r"^\| `([Qo.]+)` \| (\d+) \| (\d+) \|", DOCS, flags=re.MULTILINE)
    assert len(examples) == 5
    streaks = config(definition(allowed=1, per=7))
    for pattern, current, freezes in examples:
        found = summary({"a": pattern}, streaks, day(len(pattern) - 1))["a"]
        assert (found[0], found[3]) == (int(current), int(freezes)), pattern


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"condition": {"field": "nope", "op": ">=", "value": 1}}, "streaks.0.condition.field", "unknown field 'nope'"),
    ({"condition": {"field": "plan", "op": "==", "value": 1}}, "streaks.0.condition.field", "unknown field 'plan'"),
    ({"condition": {"field": "active", "op": ">=", "value": 1}}, "streaks.0.condition.value", "is Boolean"),
    ({"condition": {"field": "active", "op": "==", "value": 1}}, "streaks.0.condition.value", "is Boolean"),
    ({"condition": {"field": "sms", "op": ">=", "value": True}}, "streaks.0.condition", "needs a number"),
    ({"condition": {"field": "sms", "op": "==", "value": "1"}}, "streaks.0.condition.value", "is UInt32"),
    ({"condition": {"field": "sms", "op": "~", "value": 1}}, "streaks.0.condition.op", "Input should be"),
    ({"condition": {"all": []}}, "streaks.0.condition.all", "at least 1"),
    (
        {
            "condition": {
                "any": [{"field": "sms", "op": ">=", "value": 1}, {"all": [{"field": "x", "op": ">", "value": 0}]}]
            }
        },
        "streaks.0.condition.any.1.all.0.field",
        "unknown field 'x'",
    ),
    ({"period": "month"}, "streaks.0.period", "'day' or 'week'"),
    ({"freezes": {"allowed": 2, "per": 2}}, "streaks.0.freezes.per", "more than allowed"),
    ({"freezes": {"allowed": -1, "per": 2}}, "streaks.0.freezes.allowed", "greater than or equal"),
    ({"key": "Bad Key"}, "streaks.0.key", "pattern"),
    ({"milestones": [7, 3]}, "streaks.0.milestones", "ascending"),
    ({"milestones": [3, 3]}, "streaks.0.milestones", "ascending"),
    ({"milestones": [0, 3]}, "streaks.0.milestones.0", "greater than or equal to 1"),
    ({"milestones": []}, "streaks.0.milestones", "at least 1"),
    ({"colour": "red"}, "streaks.0.colour", "Extra inputs"),
]


@pytest.mark.parametrize(("change", "field", "reason"), BAD)
def test_an_invalid_definition_is_refused_naming_the_field(change: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config({**definition(), **change})
    assert caught.value.field == field
    assert reason in caught.value.message


def test_keys_must_be_unique_and_a_document_readable() -> None:
    with pytest.raises(ConfigError) as caught:
        config(definition(), definition())
    assert (caught.value.field, caught.value.message) == ("streaks", "streak key used twice: texts")
    with pytest.raises(ConfigError) as caught:
        load_streaks("streaks: [")
    assert caught.value.field == "file"
    with pytest.raises(ConfigError) as caught:
        load_streaks({"version": 1, "streaks": [{k: v for k, v in definition().items() if k != "condition"}]})
    assert caught.value.field == "streaks.0.condition"


# ---- the rules, table-driven ----------------------------------------------------------------------------------------

# (pattern, definition options, as_of (day number), (current, longest, last period (day number), freezes used))
DAY_CASES: list[tuple[str, str, dict[str, Any], int, tuple[int, int, int, int]]] = [
    ("three days in a row", "QQQ", {}, 2, (3, 3, 2, 0)),
    ("a missed day breaks", "QQ.QQ", {}, 4, (2, 2, 4, 0)),
    ("a day with events that do not count is missed", "QQxQQ", {}, 4, (2, 2, 4, 0)),
    ("the open day does not break yet", "QQQ", {}, 3, (3, 3, 2, 0)),
    ("a day missed before the open one breaks", "QQQ", {}, 4, (0, 3, 2, 0)),
    ("one freeze in seven forgives a day", "QQQQQQ.QQ", {"allowed": 1, "per": 7}, 8, (8, 8, 8, 1)),
    ("a forgiven day is counted while it is the last", "QQQQQQ", {"allowed": 1, "per": 7}, 7, (6, 6, 5, 1)),
    ("but not two days in seven", "QQQQQQ..QQ", {"allowed": 1, "per": 7}, 9, (2, 6, 9, 0)),
    (
        "nor a second miss within seven days of the first",
        "QQQQQQ.QQQQQ.Q",
        {"allowed": 1, "per": 7},
        13,
        (1, 11, 13, 0),
    ),
    ("days before the first one count as missed", "QQ.QQ", {"allowed": 1, "per": 7}, 4, (2, 2, 4, 0)),
    ("two freezes in five", "QQQ.Q.Q", {"allowed": 2, "per": 5}, 6, (5, 5, 6, 2)),
    ("an outage day is protected", "QQoQQ", {}, 4, (4, 4, 4, 0)),
    ("so are many in a row", "QQooooooooQ", {}, 10, (3, 3, 10, 0)),
    ("an outage day that qualifies counts", "QQOQQ", {}, 4, (5, 5, 4, 0)),
    ("outage days are not protected when switched off", "QQoQQ", {"protect": False}, 4, (2, 2, 4, 0)),
    ("outage days do not count towards per", "QQQ.oQ", {"allowed": 1, "per": 3}, 5, (4, 4, 5, 1)),
    ("an open outage day changes nothing", "QQo", {}, 2, (2, 2, 1, 0)),
    ("the longest run is kept after a break", "QQQQ.Q", {}, 5, (1, 4, 5, 0)),
]


@pytest.mark.parametrize(("name", "pattern", "options", "as_of", "expected"), DAY_CASES, ids=[c[0] for c in DAY_CASES])
def test_day_streaks(name: str, pattern: str, options: dict[str, Any], as_of: int, expected: tuple[int, ...]) -> None:
    current, longest, last, freezes = expected
    assert summary({"a": pattern}, config(definition(**options)), day(as_of)) == {
        "a": (current, longest, day(last), freezes)
    }


def weeks(*each: str) -> str:
    """Days week by week (START is a Monday, weeks run Monday to Sunday): each argument is one week, padded."""
    return "".join(w.ljust(7, ".") for w in each)


WEEK_CASES: list[tuple[str, str, dict[str, Any], int, tuple[int, int, int, int]]] = [
    ("one text a week", weeks("Q", "Q", "Q"), {}, 14, (3, 3, 14, 0)),
    ("the open week does not break yet", weeks("Q", "Q"), {}, 14, (2, 2, 7, 0)),
    ("a week without a text breaks", weeks("Q", "", "Q"), {}, 15, (1, 1, 14, 0)),
    ("a week of freezes", weeks("Q", "Q", "Q", "", "Q"), {"allowed": 1, "per": 4}, 28, (4, 4, 28, 1)),
    ("too early for a freeze", weeks("Q", "", "Q"), {"allowed": 1, "per": 4}, 15, (1, 1, 14, 0)),
    ("a week of outages is protected", weeks("Q", ".o", "Q"), {}, 15, (2, 2, 14, 0)),
    (
        "the condition holds over the week's total",
        weeks("Q.Q.Q", "QQ.Q", "Q", "QQQ"),
        {"condition": {"field": "sms", "op": ">=", "value": 3}},
        24,
        (1, 2, 21, 0),
    ),
]


@pytest.mark.parametrize(
    ("name", "pattern", "options", "as_of", "expected"), WEEK_CASES, ids=[c[0] for c in WEEK_CASES]
)
def test_week_streaks(name: str, pattern: str, options: dict[str, Any], as_of: int, expected: tuple[int, ...]) -> None:
    current, longest, last, freezes = expected
    assert summary({"a": pattern}, config(definition("week", **options)), day(as_of)) == {
        "a": (current, longest, day(last), freezes)
    }


def test_a_gap_filled_late_repairs_the_streak() -> None:
    streaks = config(definition())
    assert summary({"a": "QQQ.QQ"}, streaks, day(5)) == {"a": (2, 3, day(5), 0)}
    assert summary({"a": "QQQQQQ"}, streaks, day(5)) == {"a": (6, 6, day(5), 0)}
    # an outage reported late protects the day instead
    assert summary({"a": "QQQoQQ"}, streaks, day(5)) == {"a": (5, 5, day(5), 0)}


def test_definitions_and_subscribers_are_independent() -> None:
    streaks = config(
        definition(key="texts"), definition("week", key="weekly"), definition(key="free", allowed=1, per=3)
    )
    found = compute(daily_frame(rows({"a": "QQ.Q", "b": ".QQQ", "c": "x"})).lazy(), streaks, day(3))
    table = {(r["streak_key"], r["subscriber_id"]): r["current"] for r in found.to_dicts()}
    assert table == {
        ("texts", "a"): 1,
        ("texts", "b"): 3,
        ("weekly", "a"): 1,
        ("weekly", "b"): 1,
        ("free", "a"): 3,
        ("free", "b"): 3,
    }
    assert found.schema == pl.Schema(
        {
            "subscriber_id": pl.String,
            "streak_key": pl.String,
            "current": pl.Int32,
            "longest": pl.Int32,
            "last_period": pl.Date,
            "freezes_used": pl.Int32,
        }
    )


def test_nothing_after_as_of_counts_and_an_empty_table_gives_nothing() -> None:
    streaks = config()
    assert summary({"a": "..QQQ"}, streaks, day(1)) == {}
    assert compute(empty_daily(), streaks, day(1)).is_empty()


def test_runs_since_lists_the_recent_runs_and_marks_the_current_one() -> None:
    found = evaluate(daily_frame(rows({"a": "QQ.QQQ.Q"})).lazy(), config(), day(7), runs_since=day(4))
    assert found.runs.select("start", "end", "length", "alive").rows() == [
        (day(3), day(5), 3, False),
        (day(7), day(7), 1, True),
    ]


def test_runs_since_may_differ_per_definition() -> None:
    streaks = config(definition(), definition(key="other"))
    daily = daily_frame(rows({"a": "QQ.QQQ.Q"})).lazy()
    found = evaluate(daily, streaks, day(7), runs_since={"texts": day(0)}).runs  # none asked for "other"
    assert found.select("streak_key", "start", "end").rows() == [
        ("texts", day(0), day(1)),
        ("texts", day(3), day(5)),
        ("texts", day(7), day(7)),
    ]


def test_a_hash_shared_by_two_subscribers_is_found_and_another_seed_used(monkeypatch: pytest.MonkeyPatch) -> None:
    real = streak_layout.subscriber_hash
    patterns = {"a": "QQ.Q", "b": "Q.QQ", "c": "QQQQ"}
    streaks = config(definition(), definition("week", key="weekly"))
    expected = compute(daily_frame(rows(patterns)).lazy(), streaks, day(3)).sort("streak_key", "subscriber_id")
    seeds: list[int] = []

    def clashing(seed: int) -> pl.Expr:  # every id hashes alike under seed 0
        seeds.append(seed)
        return pl.lit(7, pl.UInt64) if seed == 0 else real(seed)

    monkeypatch.setattr(streak_layout, "subscriber_hash", clashing)
    found = compute(daily_frame(rows(patterns)).lazy(), streaks, day(3)).sort("streak_key", "subscriber_id")
    assert found.equals(expected)
    assert set(seeds) == {0, 1}


# ---- the rules, against a plain loop over random histories ----------------------------------------------------------


def period_of(period: str, on: dt.date) -> dt.date:
    return on if period == "day" else on - dt.timedelta(days=on.weekday())


def step(period: str, start: dt.date, n: int) -> dt.date:
    return start + dt.timedelta(days=n if period == "day" else 7 * n)


def reference(found: list[dict[str, Any]], streak: dict[str, Any], as_of: dt.date) -> dict[str, tuple[Any, ...]]:
    """The documented rules, walked period by period for one subscriber at a time."""
    period, threshold = streak["period"], streak["condition"]["value"]
    allowed, per = streak["freezes"]["allowed"], streak["freezes"]["per"]
    totals: dict[tuple[str, dt.date], list[float]] = {}
    for row in found:
        if row["date"] <= as_of:
            total = totals.setdefault((row["subscriber_id"], period_of(period, row["date"])), [0.0, 0.0])
            total[0] += row.get("sms", 0)
            total[1] += row.get("outage_s", 0)
    out = {}
    for sub in sorted({s for s, _ in totals}):
        mine = {p: t for (s, p), t in totals.items() if s == sub}
        qualifying = {p for p, (sms, _) in mine.items() if sms >= threshold}
        protected = {p for p, (_, outage) in mine.items() if streak["protect_outages"] and outage > 0} - qualifying
        if not qualifying:
            continue
        timeline: list[str] = []  # Q or M, one per period that is not protected
        current = longest = freezes = 0
        last, now = min(qualifying), period_of(period, as_of)
        for n in range(10_000):
            p = step(period, min(qualifying), n)
            if p > now:
                break
            if p in qualifying:
                timeline.append("Q")
                current, freezes = (current + 1, freezes) if current else (1, 0)
                longest, last = max(longest, current), p
            elif p in protected or p == now:
                continue
            else:
                timeline.append("M")
                window = timeline[-per:]
                missed = window.count("M") + per - len(window)  # before the first period: missed
                if current and missed <= allowed:
                    freezes += 1
                elif current:
                    current = freezes = 0
        out[sub] = (current, longest, last, freezes)
    return out


@st.composite
def histories(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, Any], int]:
    days = draw(st.integers(1, 50))
    subscribers = draw(st.integers(1, 4))
    patterns = {f"s{i}": draw(st.text("QQQxo.O", min_size=days, max_size=days)) for i in range(subscribers)}
    per = draw(st.integers(1, 9))
    streak = definition(
        draw(st.sampled_from(["day", "week"])),
        allowed=draw(st.integers(0, per - 1)),
        per=per,
        protect=draw(st.booleans()),
        condition={"field": "sms", "op": ">=", "value": draw(st.sampled_from([1, 2]))},
    )
    return patterns, streak, draw(st.integers(0, days + 14))


@settings(max_examples=300, deadline=None)
@given(histories())
def test_compute_equals_a_plain_loop_over_the_rules(history: tuple[dict[str, str], dict[str, Any], int]) -> None:
    patterns, streak, as_of = history
    found = rows(patterns)
    assert summary(patterns, config(streak), day(as_of)) == reference(found, streak, day(as_of))


# ---- the service: storage, events, the incremental path -------------------------------------------------------------


def write(rt: Runtime, patterns: dict[str, str], days: range | list[int]) -> None:
    """Make these days' daily partitions what the patterns say (a day without rows is removed)."""
    for n in days:
        found = [r for r in rows(patterns) if r["date"] == day(n)]
        if found:
            rt.lake.replace_partition("daily", "date", day(n).isoformat(), daily_frame(found).drop("date"))
        else:
            rt.lake.drop_partition("daily", "date", day(n).isoformat())


def stored(rt: Runtime) -> dict[tuple[str, str], tuple[Any, ...]]:
    with rt.db.session() as session:
        return {
            (s.subscriber_id, s.streak_key): (s.current, s.longest, s.last_period, s.freezes_used)
            for s in session.scalars(select(StreakState))
        }


def events(rt: Runtime) -> list[OutboxEvent]:
    with rt.db.session() as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


def test_updates_store_changes_and_emit_each_event_once(rt: Runtime) -> None:
    streaks = config(definition())
    write(rt, {"a": "QQQ", "b": "QQQ"}, range(3))
    first = update_streaks(rt, day(2), config=streaks)
    assert (first["changed"], first["extended"], first["broken"]) == (2, 2, 0)
    assert stored(rt) == {("a", "texts"): (3, 3, day(2), 0), ("b", "texts"): (3, 3, day(2), 0)}
    again = update_streaks(rt, day(2), config=streaks)
    assert (again["changed"], again["events"]) == (0, 0)

    write(rt, {"a": "QQQ.QQ", "b": "QQQQQQ"}, range(3, 6))  # a misses day 3
    update_streaks(rt, day(5), config=streaks)
    assert stored(rt)[("a", "texts")] == (2, 3, day(5), 0)
    broken = [e for e in events(rt) if e.type == "streak.broken"]
    assert [(e.subject, e.key, e.data) for e in broken] == [
        (
            "a",
            f"streak.broken:a:texts:{day(2)}",
            {"streak": "texts", "length": 3, "start": str(day(0)), "last_period": str(day(2)), "as_of": str(day(5))},
        )
    ]
    assert broken[0].time.astimezone(dt.UTC) == dt.datetime(2026, 3, 7, tzinfo=dt.UTC)  # midnight in London (GMT)

    write(rt, {"a": "QQQQQQ", "b": "QQQQQQ"}, [3])  # a's events of day 3 arrive late: the gap is filled
    repaired = update_streaks(rt, day(5), config=streaks)
    assert (repaired["changed"], repaired["extended"], repaired["broken"]) == (1, 1, 0)
    assert stored(rt)[("a", "texts")] == (6, 6, day(5), 0)
    latest = events(rt)[-1]
    assert (latest.type, latest.data["current"], latest.data["previous"]) == ("streak.extended", 6, 2)
    assert update_streaks(rt, day(5), config=streaks)["events"] == 0

    write(rt, {"a": "QQQQQQ.Q", "b": "QQQQQQQQ"}, range(6, 8))  # the repaired run ends: announced once more
    update_streaks(rt, day(7), config=streaks)
    assert [e.key for e in events(rt) if e.type == "streak.broken"] == [
        f"streak.broken:a:texts:{day(2)}",
        f"streak.broken:a:texts:{day(5)}",
    ]
    # announced at the milestones 3, 7, 14...: b's 6 passes none; a's repaired 6 passes 3 again (it had fallen to 2)
    extended = [(e.subject, e.data["current"], e.data["milestone"]) for e in events(rt) if e.type == "streak.extended"]
    assert sorted(extended[:2]) == [("a", 3, 3), ("b", 3, 3)]
    assert extended[2:] == [("a", 6, 3), ("b", 8, 7)]  # a's new run of 1 after the break is no growth


def test_without_milestones_every_growth_is_announced(rt: Runtime) -> None:
    streaks = config(definition(milestones=None))
    for n in range(1, 5):
        write(rt, {"a": "Q" * n}, [n - 1])
        update_streaks(rt, day(n - 1), config=streaks)
    found = [(e.data["current"], e.data["milestone"]) for e in events(rt) if e.type == "streak.extended"]
    assert found == [(1, 1), (2, 2), (3, 3), (4, 4)]


def test_a_late_repair_announces_only_the_highest_milestone_passed(rt: Runtime) -> None:
    streaks = config(definition(milestones=[2, 4, 5, 9]))
    write(rt, {"a": "Q.QQQQ"}, [0, 2, 3, 4, 5])
    update_streaks(rt, day(5), config=streaks)  # a run of 4 after the gap: milestones 2 and 4 at once
    write(rt, {"a": "QQQQQQ"}, [1])  # the gap filled: 6, past 5
    update_streaks(rt, day(5), config=streaks)
    found = [(e.data["previous"], e.data["current"], e.data["milestone"]) for e in events(rt)]
    assert found == [(0, 4, 4), (4, 6, 5)]


def test_event_keys_fit_the_outbox_even_for_very_long_ids(rt: Runtime) -> None:
    long_id = "p" * 128  # the longest id the tables hold
    streaks = config(definition(key="k" * 63, milestones=None))
    write(rt, {long_id: "QQ"}, range(2))
    update_streaks(rt, day(1), config=streaks)
    write(rt, {long_id: "QQ."}, [2])
    write(rt, {long_id: "QQ.Q"}, [3])
    update_streaks(rt, day(3), config=streaks)
    keys = [e.key for e in events(rt)]
    assert [k.split(":")[:2] for k in keys] == [["streak.extended", "sha256"], ["streak.broken", "sha256"]]
    assert all(len(k) <= 200 for k in keys)
    write(rt, {long_id: "QQQQ"}, [2])
    update_streaks(rt, day(3), config=streaks)
    assert update_streaks(rt, day(3), config=streaks)["events"] == 0
    assert len(events(rt)) == 3


def test_a_streak_that_no_longer_has_a_qualifying_period_is_removed(rt: Runtime) -> None:
    streaks = config(definition())
    write(rt, {"a": "QQ", "b": "QQ"}, range(2))
    update_streaks(rt, day(1), config=streaks)
    write(rt, {"a": "QQ", "b": "xx"}, range(2))  # b's texts were misattributed and are gone on a rebuild
    result = update_streaks(rt, day(1), config=streaks)
    assert (result["removed"], result["broken"]) == (1, 0)
    assert list(stored(rt)) == [("a", "texts")]


def test_an_empty_daily_table_is_refused(rt: Runtime) -> None:
    with pytest.raises(Invalid) as caught:
        update_streaks(rt, config=config())
    assert caught.value.field == "as_of"


def test_the_app_sees_each_definition_with_what_is_still_to_do(rt: Runtime) -> None:
    streaks = config(definition(), definition("week", key="weekly"))
    write(rt, {"a": "QQQ"}, range(3))
    update_streaks(rt, day(2), config=streaks)
    today = {s["key"]: s for s in subscriber_streaks(rt, "a", as_of=day(2), config=streaks)}
    assert (today["texts"]["current"], today["texts"]["done_this_period"], today["texts"]["at_risk"]) == (
        3,
        True,
        False,
    )
    tomorrow = {s["key"]: s for s in subscriber_streaks(rt, "a", as_of=day(3), config=streaks)}
    assert (tomorrow["texts"]["done_this_period"], tomorrow["texts"]["at_risk"]) == (False, True)
    assert (tomorrow["weekly"]["current"], tomorrow["weekly"]["at_risk"]) == (1, False)  # same week, already done
    nobody = subscriber_streaks(rt, "z", as_of=day(3), config=streaks)
    assert [(s["key"], s["current"], s["last_period"], s["at_risk"]) for s in nobody] == [
        ("texts", 0, None, False),
        ("weekly", 0, None, False),
    ]
    assert set(nobody[0]) >= {"name", "description", "period", "longest", "freezes", "protect_outages"}


def sms(n: int, subscriber: str, utc: str) -> dict[str, Any]:
    return {
        "event_id": n,
        "subscriber_id": subscriber,
        "event_time": dt.datetime.fromisoformat(utc).replace(tzinfo=dt.UTC),
        "source_kind": EVENT_TYPES["sms"].kind.value,
        "source": "test",
        "event_type": "sms",
        "value": 1.0,
    }


def test_weeks_follow_the_operator_clock_across_dst_changes(rt: Runtime) -> None:
    """Europe/London: BST starts 29 March 2026 and ends 25 October 2026; a week is Monday to Sunday there."""
    times = {
        # 23:30 UTC on Sunday 29 March is 00:30 BST on Monday: the week of 23 March has no text
        "spring_gap": ["2026-03-22 23:30", "2026-03-29 23:30"],
        # 22:30 UTC on the same Sunday is still Sunday in London: three weeks in a row
        "spring_run": ["2026-03-22 23:30", "2026-03-29 22:30", "2026-03-30 10:00"],
        # 23:30 UTC on Sunday 18 October is Monday 00:30 BST (the week of the change); Sunday 25 October 23:30 UTC
        # is 23:30 GMT, the same week; in UTC these would have been three weeks in a row
        "autumn": ["2026-10-18 23:30", "2026-10-25 23:30", "2026-10-26 00:30"],
    }
    found = [sms(n, sub, at) for n, (sub, at) in enumerate((s, at) for s, ats in times.items() for at in ats)]
    rt.events.append(pl.DataFrame(found, schema=EVENT_SCHEMA, strict=False))
    streaks = config(definition("week"))
    update_streaks(rt, dt.date(2026, 3, 30), config=streaks)
    spring = stored(rt)
    assert spring[("spring_gap", "texts")] == (1, 1, dt.date(2026, 3, 30), 0)
    assert spring[("spring_run", "texts")] == (3, 3, dt.date(2026, 3, 30), 0)
    update_streaks(rt, dt.date(2026, 10, 26), config=streaks)
    assert stored(rt)[("autumn", "texts")] == (2, 2, dt.date(2026, 10, 26), 0)


# ---- the incremental path equals a recompute from history -----------------------------------------------------------


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[dict[str, str], list[tuple[int, dict[str, str]]]]:
    """A final history, and the order its days reach the daily table: any order, some days first in an earlier
    version (a subscriber's events, or an outage report, not yet in)."""
    days = draw(st.integers(2, 16))
    final = {f"s{i}": draw(st.text("QQQxo.", min_size=days, max_size=days)) for i in range(draw(st.integers(1, 3)))}
    writes: list[tuple[int, dict[str, str], bool]] = []
    for n in range(days):
        if draw(st.booleans()):
            writes.append((n, {s: (p[n] if draw(st.booleans()) else ".") for s, p in final.items()}, False))
        writes.append((n, {s: p[n] for s, p in final.items()}, True))
    done: set[int] = set()
    ordered = []
    for n, version, is_final in draw(st.permutations(writes)):
        if n not in done:  # an early version that comes after the final one never arrives
            ordered.append((n, version))
        if is_final:
            done.add(n)
    return final, ordered


def fresh(rt: Runtime, root: Path) -> Runtime:
    """The same database, emptied, and a new lake: one per example."""
    with rt.db.session() as session:
        session.execute(delete(StreakState))
        session.execute(delete(OutboxEvent))
    lake = Lake(Path(tempfile.mkdtemp(dir=root)))
    return Runtime(rt.settings, rt.db, lake, EventStore(lake, rt.settings.timezone))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arrivals())
def test_updates_over_out_of_order_arrivals_end_where_a_recompute_does(
    rt: Runtime, tmp_path: Path, history: tuple[dict[str, str], list[tuple[int, dict[str, str]]]]
) -> None:
    final, ordered = history
    example = fresh(rt, tmp_path)
    streaks = config(definition(allowed=1, per=4), definition("week", key="weekly"))
    clock = 0
    for n, version in ordered:
        write(example, {s: "." * n + c for s, c in version.items()}, [n])
        clock = max(clock, n)
        update_streaks(example, day(clock), config=streaks)
    last = max(n for n, _ in ordered)
    recomputed = compute(daily_frame(rows(final)).lazy(), streaks, day(last))
    assert stored(example) == {
        (r["subscriber_id"], r["streak_key"]): (r["current"], r["longest"], r["last_period"], r["freezes_used"])
        for r in recomputed.to_dicts()
    }
    assert update_streaks(example, day(last), config=streaks)["events"] == 0
    keys = [e.key for e in events(example)]
    assert len(keys) == len(set(keys))
