"""Badges with levels: the document is validated naming the field at fault; values and levels are pure functions over
frames (table-driven); awarding stores each level once, in order, with its reward and outbox events, and a re-run
changes nothing - on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from sqlalchemy import delete, func, insert, select

from questline.engine.badge_config import DEFAULT, SOURCES, load_badges
from questline.engine.badge_levels import HELD
from questline.engine.badges import award_badges, levels, new_awards, subscriber_badges, values
from questline.kit.errors import ConfigError, Invalid
from questline.models import Assignment, BadgeAward, OutboxEvent, Reward, StreakState
from questline.runtime import Runtime
from questline.scoring.config import SCORE_NAMES
from questline.scoring.daily import empty_daily

DAY = dt.date(2026, 11, 2)
SHIPPED: dict[str, Any] = yaml.safe_load(DEFAULT.read_text())


def badge(key: str, source: str, thresholds: tuple[float, ...], points: tuple[int, ...], **measure: Any) -> dict:
    names = ("bronze", "silver", "gold", "platinum")
    return {
        "key": key,
        "name": key.replace("_", " ").title(),
        "description": f"the {key} badge",
        "source": source,
        **measure,
        "thresholds": dict(zip(names, thresholds, strict=True)),
        "points": dict(zip(names, points, strict=True)),
    }


# Small thresholds so that a handful of rows reaches every level.
CONFIG = load_badges(
    {
        "version": 1,
        "badges": [
            badge("data", "metric", (1, 2, 3, 4), (10, 20, 30, 40), metric="data_bytes", divide_by=1e9),
            badge("active_days", "metric", (1, 2, 3, 4), (1, 2, 3, 4), metric="active", aggregate="days"),
            badge("digital", "score", (60, 70, 80, 90), (5, 10, 15, 20), score="digital"),
            badge("missions", "missions", (1, 2, 3, 4), (0, 20, 30, 40)),  # Bronze grants no points
            badge("kinds", "missions", (2, 3, 4, 5), (1, 1, 1, 1), count="categories"),
            badge("revenue_missions", "missions", (1, 2, 3, 4), (1, 1, 1, 1), category="revenue"),
            badge("streak", "streak", (3, 7, 14, 30), (5, 5, 5, 5), streak="daily_active"),
            badge("current_streak", "streak", (3, 7, 14, 30), (5, 5, 5, 5), streak="daily_active", use="current"),
        ],
    }
)


# ---- the document --------------------------------------------------------------------------------------------------


def test_the_shipped_badges_cover_every_source_with_increasing_thresholds() -> None:
    config = load_badges()
    assert 10 <= len(config.badges) <= 15
    assert {b.source for b in config.badges} == set(SOURCES)
    for b in config.badges:
        assert list(b.thresholds.values) == sorted(set(b.thresholds.values)), b.key


def test_docs_list_every_shipped_badge_with_its_thresholds_and_points() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "badges.md").read_text()
    for b in load_badges().badges:
        thresholds = " / ".join(f"{t:g}" for t in b.thresholds.values)
        points = " / ".join(map(str, b.points.values))
        assert f"| {b.name} | `{b.key}` | {b.source} |" in docs, b.key
        assert f"| {thresholds} | {points} |" in docs.split(f"`{b.key}`", 1)[1].splitlines()[0], b.key


def _index(source: str) -> int:
    return next(i for i, b in enumerate(SHIPPED["badges"]) if b["source"] == source)


def _edited(path: str, value: Any) -> dict[str, Any]:
    """The shipped document with one value replaced (`None` removes the key); `<source>` picks a badge of it."""
    document = copy.deepcopy(SHIPPED)
    *parents, last = path.split(".")
    node: Any = document
    for part in parents:
        node = node[_index(part[1:-1]) if part.startswith("<") else int(part) if part.isdigit() else part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        (
            "badges.0.thresholds",
            {"bronze": 5, "silver": 5, "gold": 6, "platinum": 7},
            "badges.0.thresholds",
            "strictly",
        ),
        (
            "badges.0.thresholds",
            {"bronze": 1, "silver": 3, "gold": 2, "platinum": 7},
            "badges.0.thresholds",
            "strictly",
        ),
        ("badges.0.thresholds.bronze", 0, "badges.0.thresholds.bronze", "greater than 0"),
        ("badges.0.thresholds.platinum", None, "badges.0.thresholds.platinum", "required"),
        ("badges.0.thresholds.diamond", 900, "badges.0.thresholds.diamond", "not permitted"),
        ("badges.0.points.gold", -1, "badges.0.points.gold", "greater than or equal to 0"),
        ("badges.0.source", "mood", "badges.0.source", "mood"),
        ("badges.0.source", None, "badges.0.source", "source"),
        ("badges.0.metric", "plan", "badges.0.metric", "not a numeric daily metric"),
        ("badges.0.metric", "happiness", "badges.0.metric", "not a numeric daily metric"),
        ("badges.0.aggregate", "mean", "badges.0.aggregate", "'sum' or 'days'"),
        ("badges.0.divide_by", 0, "badges.0.divide_by", "greater than 0"),
        ("badges.0.colour", "gold", "badges.0.colour", "not permitted"),
        ("badges.<score>.score", "happiness", f"badges.{_index('score')}.score", "not a score"),
        ("badges.<missions>.category", "fun", f"badges.{_index('missions')}.category", "onboarding"),
        ("badges.<streak>.use", "average", f"badges.{_index('streak')}.use", "'longest' or 'current'"),
        ("badges.<streak>.streak", "Daily Active", f"badges.{_index('streak')}.streak", "pattern"),
        ("badges.1.key", SHIPPED["badges"][0]["key"], "badges", "used twice"),
        ("badges.0.key", "Data Explorer", "badges.0.key", "pattern"),
        ("version", 0, "version", "greater than or equal to 1"),
    ],
)
def test_an_invalid_document_is_refused_naming_the_field(path: str, value: Any, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_badges(_edited(path, value))
    assert caught.value.field == field
    assert message in caught.value.message


def test_counting_categories_within_one_category_is_refused() -> None:
    document = {"version": 1, "badges": [badge("k", "missions", (2, 3, 4, 5), (1, 1, 1, 1), count="categories")]}
    document["badges"][0]["category"] = "revenue"
    with pytest.raises(ConfigError) as caught:
        load_badges(document)
    assert caught.value.field == "badges.0.category"


def test_unreadable_yaml_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_badges("badges: [unclosed")
    assert caught.value.field == "file"


# ---- levels (pure) -------------------------------------------------------------------------------------------------

TEN = load_badges({"version": 1, "badges": [badge("b", "score", (10, 20, 30, 40), (1, 2, 3, 4), score="digital")]})


@pytest.mark.parametrize(
    ("value", "level", "next_threshold", "progress"),
    [
        (0.0, 0, 10.0, 0.0),
        (5.0, 0, 10.0, 0.5),
        (9.999, 0, 10.0, 0.9999),
        (10.0, 1, 20.0, 0.0),  # a threshold is reached at exactly its value
        (15.0, 1, 20.0, 0.5),
        (20.0, 2, 30.0, 0.0),
        (35.0, 3, 40.0, 0.5),  # straight past Bronze and Silver
        (40.0, 4, None, 1.0),
        (1e9, 4, None, 1.0),
        (-3.0, 0, 10.0, 0.0),
    ],
)
def test_level_next_threshold_and_progress(
    value: float, level: int, next_threshold: float | None, progress: float
) -> None:
    row = levels(_values(("s", "b", value)), TEN).row(0, named=True)
    assert (row["value"], row["level"], row["next_threshold"]) == (value, level, next_threshold)
    assert row["progress"] == pytest.approx(progress)


@pytest.mark.parametrize(
    ("value", "held", "level", "next_threshold", "progress"),
    [
        (15.0, 3, 3, 40.0, 0.0),  # the score fell below Gold: Gold stays, no progress shown below it
        (35.0, 3, 3, 40.0, 0.5),
        (35.0, 1, 3, 40.0, 0.5),  # reached but not yet awarded: the value's level shows
        (None, 2, 2, 30.0, 0.0),  # held, no value seen: value 0
        (40.0, 4, 4, None, 1.0),
    ],
)
def test_levels_never_fall_below_the_level_held(
    value: float | None, held: int, level: int, next_threshold: float | None, progress: float
) -> None:
    found = _values() if value is None else _values(("s", "b", value))
    row = levels(found, TEN, held=_held(("s", "b", held))).row(0, named=True)
    assert (row["value"], row["level"], row["next_threshold"]) == (value or 0.0, level, next_threshold)
    assert row["progress"] == pytest.approx(progress)


def test_values_of_badges_not_in_the_document_are_ignored() -> None:
    assert levels(_values(("s", "gone", 50.0), ("s", "b", 12.0)), TEN)["badge_key"].to_list() == ["b"]


@pytest.mark.parametrize(
    ("reached", "held", "awarded"),
    [
        (3, None, [1, 2, 3]),  # Gold at once: Bronze, Silver and Gold, each once
        (4, 2, [3, 4]),
        (2, 2, []),
        (1, 3, []),  # fallen: nothing more, nothing taken
        (0, None, []),
    ],
)
def test_new_awards_unlock_every_level_in_order(reached: int, held: int | None, awarded: list[int]) -> None:
    value = {0: 5.0, 1: 12.0, 2: 25.0, 3: 33.0, 4: 41.0}[reached]
    found = levels(_values(("s", "b", value)), TEN)
    new = new_awards(found, _held() if held is None else _held(("s", "b", held)), TEN).sort("level")
    assert new["level"].to_list() == awarded
    assert new["threshold"].to_list() == [10.0 * n for n in awarded]
    assert new["points"].to_list() == awarded  # TEN grants n points at level n


# ---- values (pure) -------------------------------------------------------------------------------------------------


def daily_frame(*rows: dict[str, Any]) -> pl.DataFrame:
    """Daily rows with the real schema: unnamed metrics are 0 (or false / empty)."""
    schema = empty_daily().collect_schema()
    defaults = {name: _zero(dtype) for name, dtype in schema.items()}
    return pl.DataFrame([defaults | row for row in rows], schema=schema)


def _zero(dtype: pl.DataType) -> object:
    if dtype == pl.Boolean:
        return False
    if isinstance(dtype, pl.List):
        return []
    return None if dtype in (pl.String, pl.Date) else 0


def scores_frame(**digital: float) -> pl.DataFrame:
    return pl.DataFrame(
        {"subscriber_id": list(digital)}
        | {s: [digital[k] if s == "digital" else 50.0 for k in digital] for s in SCORE_NAMES}
    )


def completed_frame(*rows: tuple[str, str, dt.date]) -> pl.DataFrame:
    schema = {"subscriber_id": pl.String, "category": pl.String, "completed_on": pl.Date}
    return pl.DataFrame(rows, schema=schema, orient="row")


def streaks_frame(*rows: tuple[str, str, int, int]) -> pl.DataFrame:
    schema = {"subscriber_id": pl.String, "streak_key": pl.String, "current": pl.Int64, "longest": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _values(*rows: tuple[str, str, float]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"subscriber_id": pl.String, "badge_key": pl.String, "value": pl.Float64}, orient="row"
    )


def _held(*rows: tuple[str, str, int]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=HELD, orient="row")


def _as_dict(found: pl.DataFrame) -> dict[tuple[str, str], float]:
    return {(s, b): v for s, b, v in found.iter_rows()}


def test_values_from_every_source() -> None:
    earlier, later = DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1)
    daily = daily_frame(
        {"subscriber_id": "a", "date": earlier, "data_bytes": 1.5e9, "active": True},
        {"subscriber_id": "a", "date": DAY, "data_bytes": 1e9, "active": True},
        {"subscriber_id": "a", "date": later, "data_bytes": 9e9, "active": True},  # after as_of: not counted
        {"subscriber_id": "b", "date": DAY, "data_bytes": 0.0, "active": False},
    )
    completed = completed_frame(
        ("a", "revenue", earlier),
        ("a", "revenue", DAY),
        ("a", "loyalty", DAY),
        ("a", "data", later),
        ("b", "loyalty", DAY),
    )
    streaks = streaks_frame(("a", "daily_active", 2, 9), ("b", "daily_active", 4, 4), ("a", "weekly_topup", 8, 8))
    found = _as_dict(values(daily, scores_frame(a=72.5), completed, streaks, CONFIG, DAY))
    assert found == {
        ("a", "data"): 2.5,
        ("a", "active_days"): 2.0,
        ("b", "data"): 0.0,
        ("b", "active_days"): 0.0,
        ("a", "digital"): 72.5,
        ("a", "missions"): 3.0,
        ("a", "kinds"): 2.0,
        ("a", "revenue_missions"): 2.0,
        ("b", "missions"): 1.0,
        ("b", "kinds"): 1.0,
        ("b", "revenue_missions"): 0.0,
        ("a", "streak"): 9.0,
        ("b", "streak"): 4.0,
        ("a", "current_streak"): 2.0,
        ("b", "current_streak"): 4.0,
    }


def test_unknown_scores_give_no_value() -> None:
    scores = pl.DataFrame({"subscriber_id": ["a", "b", "c"]} | {s: [float("nan"), None, 61.0] for s in SCORE_NAMES})
    found = values(daily_frame(), scores, completed_frame(), streaks_frame(), CONFIG, DAY)
    assert _as_dict(found) == {("c", "digital"): 61.0}


def test_values_of_empty_sources_are_empty() -> None:
    found = values(daily_frame(), scores_frame(), completed_frame(), streaks_frame(), CONFIG, DAY)
    assert found.is_empty() and found.columns == ["subscriber_id", "badge_key", "value"]


# ---- awarding (SQLite and PostgreSQL) ------------------------------------------------------------------------------


def write_daily(rt: Runtime, *rows: dict[str, Any]) -> None:
    frame = daily_frame(*rows)
    for (day,), part in frame.partition_by("date", as_dict=True, include_key=False).items():
        rt.lake.replace_partition("daily", "date", day, part)


def write_scores(rt: Runtime, day: dt.date, **digital: float) -> None:
    rt.lake.replace_partition("scores", "as_of", day, scores_frame(**digital))


def add_completed(rt: Runtime, subscriber: str, category: str, at: dt.datetime, *, control: bool = False) -> None:
    with rt.db.session() as session:
        number = session.scalar(select(func.count()).select_from(Assignment))
        session.execute(
            insert(Assignment),
            [
                {
                    "subscriber_id": subscriber,
                    "mission_key": f"m{number}",
                    "template_key": f"t{number}",
                    "template_version": 1,
                    "category": category,
                    "params": {},
                    "starts_at": at - dt.timedelta(days=7),
                    "ends_at": at + dt.timedelta(days=7),
                    "status": "completed",
                    "control": control,
                    "completion": 0.5,
                    "expected_value": 1.0,
                    "reward_points": 10,
                    "generated_as_of": (at - dt.timedelta(days=7)).date(),
                    "completed_at": at,
                }
            ],
        )


def set_streak(rt: Runtime, subscriber: str, current: int, longest: int) -> None:
    with rt.db.session() as session:
        session.merge(
            StreakState(subscriber_id=subscriber, streak_key="daily_active", current=current, longest=longest)
        )


def awards_of(rt: Runtime) -> list[tuple[str, str, int]]:
    with rt.db.session() as session:
        rows = session.execute(select(BadgeAward.subscriber_id, BadgeAward.badge_key, BadgeAward.level)).all()
    return sorted((s, b, lv) for s, b, lv in rows)


def rewards_of(rt: Runtime) -> list[tuple[str, str, int, str]]:
    with rt.db.session() as session:
        rows = session.execute(select(Reward.key, Reward.subscriber_id, Reward.points, Reward.reason)).all()
    return sorted((k, s, p, r) for k, s, p, r in rows)


def outbox_of(rt: Runtime) -> list[OutboxEvent]:
    with rt.db.session() as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.key)))


@pytest.fixture
def seeded(rt: Runtime) -> Runtime:
    """`a` reaches Gold on data at once, Silver on digital, two missions in two categories, a 7-day streak; `b` has
    nothing but a control-group mission, which never counts."""
    write_daily(
        rt,
        {"subscriber_id": "a", "date": DAY - dt.timedelta(days=1), "data_bytes": 1.2e9, "active": True},
        {"subscriber_id": "a", "date": DAY, "data_bytes": 2e9, "active": True},
        {"subscriber_id": "b", "date": DAY, "data_bytes": 0.5e9, "active": True},
    )
    write_scores(rt, DAY, a=71.0, b=10.0)
    noon = dt.datetime.combine(DAY, dt.time(12), tzinfo=dt.UTC)
    add_completed(rt, "a", "revenue", noon)
    add_completed(rt, "a", "loyalty", noon)
    add_completed(rt, "b", "revenue", noon, control=True)
    set_streak(rt, "a", 7, 7)
    return rt


def test_award_stores_each_level_once_in_order_with_rewards_and_events(seeded: Runtime) -> None:
    run = award_badges(seeded, config=CONFIG)  # as_of: the latest day in the daily table
    expected = [
        *(("a", "active_days", n) for n in (1, 2)),
        *(("a", "current_streak", n) for n in (1, 2)),
        *(("a", "data", n) for n in (1, 2, 3)),  # 3.2 GB: Gold at once brings Bronze and Silver
        *(("a", "digital", n) for n in (1, 2)),
        ("a", "kinds", 1),
        *(("a", "missions", n) for n in (1, 2)),
        ("a", "revenue_missions", 1),
        *(("a", "streak", n) for n in (1, 2)),
        ("b", "active_days", 1),
    ]
    assert awards_of(seeded) == sorted(expected)
    assert run["as_of"] == DAY.isoformat() and run["awarded"] == len(expected)
    assert run["by_level"] == {"bronze": 9, "silver": 6, "gold": 1, "platinum": 0}

    rewards = rewards_of(seeded)
    assert ("badge:a:data:3", "a", 30, "Data badge, Gold level") in rewards
    assert not any(key == "badge:a:missions:1" for key, *_ in rewards)  # Bronze of `missions` grants no points
    assert len(rewards) == len(expected) - 1 == run["rewards"]
    assert run["points"] == sum(points for *_, points, _ in rewards)

    events = outbox_of(seeded)
    awarded = [e for e in events if e.type == "badge.awarded"]
    granted = [e for e in events if e.type == "reward.granted"]
    assert (len(awarded), len(granted), run["events"]) == (len(expected), len(rewards), len(events))
    gold = next(e for e in awarded if e.key == "badge.awarded:a:data:3")
    assert gold.subject == "a" and gold.time.date() == DAY
    assert gold.data == {
        "badge": "data",
        "name": "Data",
        "level": 3,
        "level_name": "gold",
        "threshold": 3.0,
        "value": pytest.approx(3.2),
        "points": 30,
        "as_of": DAY.isoformat(),
    }
    assert next(e for e in granted if e.key == "reward.granted:badge:a:data:3").data["points"] == 30


def test_a_rerun_changes_nothing(seeded: Runtime) -> None:
    first = award_badges(seeded, DAY, config=CONFIG)
    before = (awards_of(seeded), rewards_of(seeded), [e.key for e in outbox_of(seeded)])
    again = award_badges(seeded, DAY, config=CONFIG)
    assert first["awarded"] > 0
    assert (again["awarded"], again["rewards"], again["points"], again["events"]) == (0, 0, 0, 0)
    assert (awards_of(seeded), rewards_of(seeded), [e.key for e in outbox_of(seeded)]) == before


def test_awards_removed_by_hand_come_back_without_granting_twice(seeded: Runtime) -> None:
    award_badges(seeded, DAY, config=CONFIG)
    before = (awards_of(seeded), rewards_of(seeded), [e.key for e in outbox_of(seeded)])
    with seeded.db.session() as session:
        session.execute(delete(BadgeAward).where(BadgeAward.badge_key == "data"))
    again = award_badges(seeded, DAY, config=CONFIG)
    assert (again["awarded"], again["rewards"], again["points"], again["events"]) == (3, 0, 0, 0)
    assert (awards_of(seeded), rewards_of(seeded), [e.key for e in outbox_of(seeded)]) == before


def test_later_days_add_the_next_levels_and_a_falling_score_takes_nothing(seeded: Runtime) -> None:
    award_badges(seeded, DAY, config=CONFIG)
    later = DAY + dt.timedelta(days=1)
    write_daily(seeded, {"subscriber_id": "a", "date": later, "data_bytes": 1e9, "active": True})
    write_scores(seeded, later, a=40.0, b=95.0)  # a's digital score falls below Bronze; b's jumps to Platinum
    run = award_badges(seeded, later, config=CONFIG)
    new = {
        (s, b, lv) for s, b, lv in awards_of(seeded) if (s, b) in {("a", "data"), ("a", "digital"), ("b", "digital")}
    }
    assert new == {("a", "data", n) for n in (1, 2, 3, 4)} | {("a", "digital", n) for n in (1, 2)} | {
        ("b", "digital", n) for n in (1, 2, 3, 4)
    }
    assert run["by_badge"] == {"active_days": 1, "data": 1, "digital": 4}  # a's 3rd active day, Platinum, b's four

    shown = {b["key"]: b for b in subscriber_badges(seeded, "a", config=CONFIG)}
    assert shown["digital"] | {"levels": None} == {
        "key": "digital",
        "name": "Digital",
        "description": "the digital badge",
        "source": "score",
        "unit": "",
        "level": "silver",  # held, although the score is now 40
        "value": 40.0,
        "next_level": "gold",
        "next_threshold": 80.0,
        "progress": 0.0,
        "levels": None,
    }
    assert [(lv["level"], lv["awarded_on"]) for lv in shown["digital"]["levels"]] == [
        ("bronze", DAY.isoformat()),
        ("silver", DAY.isoformat()),
        ("gold", None),
        ("platinum", None),
    ]
    data = shown["data"]
    assert (data["level"], data["next_level"], data["next_threshold"], data["progress"]) == (
        "platinum",
        None,
        None,
        1.0,
    )


def test_subscriber_badges_lists_every_badge_for_anyone(seeded: Runtime) -> None:
    assert [b["level"] for b in subscriber_badges(seeded, "nobody", config=CONFIG)] == ["none"] * len(CONFIG.badges)
    award_badges(seeded, DAY, config=CONFIG)
    shown = subscriber_badges(seeded, "a", config=CONFIG)
    assert [b["key"] for b in shown] == [b.key for b in CONFIG.badges]
    missions = next(b for b in shown if b["key"] == "missions")
    assert (missions["level"], missions["value"], missions["next_threshold"], missions["progress"]) == (
        "silver",
        2.0,
        3.0,
        0.0,
    )
    nobody = subscriber_badges(seeded, "nobody", config=CONFIG)[0]
    assert (nobody["level"], nobody["value"], nobody["next_level"], nobody["next_threshold"]) == (
        "none",
        0.0,
        "bronze",
        1,
    )


def test_missions_count_on_the_operators_local_date(rt: Runtime) -> None:
    # 23:30 UTC on 1 July is 00:30 on 2 July in London (BST)
    add_completed(rt, "a", "revenue", dt.datetime(2026, 7, 1, 23, 30, tzinfo=dt.UTC))
    assert award_badges(rt, dt.date(2026, 7, 1), config=CONFIG)["awarded"] == 0
    assert award_badges(rt, dt.date(2026, 7, 2), config=CONFIG)["by_badge"] == {"missions": 1, "revenue_missions": 1}


def test_the_shipped_badges_award_end_to_end(seeded: Runtime) -> None:
    run = award_badges(seeded)
    # 3.2 GB, digital 71, two missions in two categories, a 7-day longest run of `daily_active`
    assert run["by_badge"] == {
        "data_explorer": 1,
        "digital_pioneer": 2,
        "explorer": 1,
        "mission_master": 1,
        "streak_keeper": 2,
    }
    assert {s for s, _, _ in awards_of(seeded)} == {"a"}
    assert award_badges(seeded)["awarded"] == 0


def test_awarding_needs_a_day(rt: Runtime) -> None:
    with pytest.raises(Invalid) as caught:
        award_badges(rt)
    assert caught.value.field == "as_of"
