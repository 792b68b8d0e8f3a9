"""Leaderboards: the document is validated naming the field at fault; periods and standings are pure functions over
frames (table-driven: local week and month boundaries in Europe/London across the spring DST change, scopes, ties,
minimum values); stored standings round-trip through the lake and are read as top listings and neighbourhoods.

Storage tests use a Runtime on SQLite only: leaderboards live in the lake and never touch the database."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from questline.config import load_settings
from questline.engine.leaderboard_store import load, partition_value
from questline.engine.leaderboards import (
    SHIPPED,
    MetricBoard,
    ScoreBoard,
    around,
    boards,
    load_leaderboards,
    refresh_leaderboards,
    standings,
    top,
)
from questline.events.schema import EVENT_SCHEMA
from questline.events.vocabulary import EVENT_TYPES
from questline.kit.errors import ConfigError, Invalid, NotFound
from questline.runtime import Runtime
from questline.scoring.daily import scan_daily
from questline.scoring.service import PARTITION as SNAPSHOT_DATE
from questline.scoring.service import SNAPSHOTS, snapshot

ZONE = "Europe/London"
D = dt.date.fromisoformat
SHIPPED_DOC: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())


def metric_board(**over: Any) -> MetricBoard:
    fields: dict[str, Any] = {"key": "b", "name": "B", "source": "metric", "metric": "data_bytes", "period": "weekly"}
    return MetricBoard(**(fields | over))


def score_board(**over: Any) -> ScoreBoard:
    return ScoreBoard(**({"key": "s", "name": "S", "source": "score", "score": "engagement"} | over))


def document(*boards: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "boards": list(boards)}


# ---- the document --------------------------------------------------------------------------------------------------


def test_the_shipped_boards_load() -> None:
    config = load_leaderboards()
    assert 4 <= len(config.boards) <= 6
    assert {b.scope for b in config.boards} >= {"everyone", "segment", "plan", "region"}
    assert {b.period for b in config.boards} >= {"weekly", "monthly", "all_time"}


SCORE_BOARD = next(b for b in SHIPPED_DOC["boards"] if b["source"] == "score")


def shipped_with(**change: Any) -> dict[str, Any]:
    first = SHIPPED_DOC["boards"][0] | change
    return document(*[{k: v for k, v in first.items() if v is not None}], *SHIPPED_DOC["boards"][1:])


INVALID = [
    ("unknown metric", shipped_with(metric="gigabytes"), "boards.0.metric", "not a numeric daily metric"),
    ("a score as a metric", shipped_with(metric="engagement"), "boards.0.metric", "use source: score"),
    ("a non-numeric metric", shipped_with(metric="plan"), "boards.0.metric", "not a numeric daily metric"),
    ("unknown source", shipped_with(source="cdr"), "boards.0.source", "'metric', 'score'"),
    ("no source", shipped_with(source=None), "boards.0.source", "source"),
    ("unknown score", document(SCORE_BOARD | {"score": "happiness"}), "boards.0.score", "not a score"),
    ("a score over a week", document(SCORE_BOARD | {"period": "weekly"}), "boards.0.period", "all_time"),
    ("unknown period", shipped_with(period="yearly"), "boards.0.period", "'daily'"),
    ("unknown weekday", shipped_with(week_starts="funday"), "boards.0.week_starts", "'monday'"),
    ("key with a space", shipped_with(key="data week"), "boards.0.key", "pattern"),
    ("scope not a column", shipped_with(scope="Segment!"), "boards.0.scope", "pattern"),
    ("size zero", shipped_with(size=0), "boards.0.size", "greater than or equal to 1"),
    ("size too large", shipped_with(size=5000), "boards.0.size", "less than or equal to 1000"),
    ("infinite minimum", shipped_with(above=float("inf")), "boards.0.above", "finite"),
    ("zero divisor", shipped_with(divide_by=0), "boards.0.divide_by", "greater than 0"),
    ("unknown field", shipped_with(colour="gold"), "boards.0.colour", "Extra inputs"),
    ("no name", shipped_with(name=""), "boards.0.name", "at least 1 character"),
    ("a key twice", document(SHIPPED_DOC["boards"][0], SHIPPED_DOC["boards"][0]), "boards", "used twice: data_week"),
    ("no boards", document(), "boards", "at least 1 item"),
    ("no version", {"boards": SHIPPED_DOC["boards"]}, "version", "required"),
]


@pytest.mark.parametrize(("case", "doc", "field", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_an_invalid_document_is_refused_naming_the_field(
    case: str, doc: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_leaderboards(doc)
    assert caught.value.field == field, case
    assert message in caught.value.message, caught.value.message


def test_unreadable_yaml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_leaderboards("boards: [unclosed")
    assert caught.value.field == "file"
    with pytest.raises(ConfigError):
        load_leaderboards(tmp_path / "missing.yaml")


def test_a_document_loads_from_yaml_text() -> None:
    assert load_leaderboards(SHIPPED.read_text()) == load_leaderboards()


# ---- periods -------------------------------------------------------------------------------------------------------

PERIODS = [
    ("daily", "daily", {}, "2026-03-29", ("2026-03-29", "2026-03-29")),
    ("a Wednesday's week", "weekly", {}, "2026-03-25", ("2026-03-23", "2026-03-29")),
    ("a Monday starts its week", "weekly", {}, "2026-03-30", ("2026-03-30", "2026-04-05")),
    ("a Sunday ends its week", "weekly", {}, "2026-03-29", ("2026-03-23", "2026-03-29")),
    ("weeks from Sunday", "weekly", {"week_starts": "sunday"}, "2026-03-28", ("2026-03-22", "2026-03-28")),
    ("weeks from Saturday", "weekly", {"week_starts": "saturday"}, "2026-03-28", ("2026-03-28", "2026-04-03")),
    ("a week across new year", "weekly", {}, "2027-01-01", ("2026-12-28", "2027-01-03")),
    ("a month", "monthly", {}, "2026-10-25", ("2026-10-01", "2026-10-31")),
    ("a leap February", "monthly", {}, "2028-02-29", ("2028-02-01", "2028-02-29")),
    ("all time", "all_time", {}, "2026-03-29", (None, None)),
]


@pytest.mark.parametrize(("case", "period", "over", "as_of", "expected"), PERIODS, ids=[c[0] for c in PERIODS])
def test_period_bounds(
    case: str, period: str, over: dict[str, Any], as_of: str, expected: tuple[str | None, str | None]
) -> None:
    assert metric_board(period=period, **over).bounds(D(as_of)) == tuple(D(d) if d else None for d in expected)


# ---- standings -----------------------------------------------------------------------------------------------------
# March 2026: Monday 23 to Sunday 29 is a week; British Summer Time starts on Sunday 29; Monday 30 starts a week.


def daily(*rows: tuple[str, str, float]) -> pl.LazyFrame:
    """The daily table's columns the boards read: (subscriber_id, local date, data_bytes); app_events = 1 a row."""
    frame = pl.DataFrame(
        rows, schema={"subscriber_id": pl.String, "date": pl.String, "data_bytes": pl.Float64}, orient="row"
    )
    return frame.lazy().with_columns(pl.col("date").str.to_date(), pl.lit(1, pl.UInt32).alias("app_events"))


DAILY = daily(
    ("bob", "2026-02-28", 3),
    ("ann", "2026-03-22", 100),  # the Sunday before the week
    ("ann", "2026-03-23", 5),
    ("bob", "2026-03-27", 5),
    ("cat", "2026-03-29", 7),
    ("dan", "2026-03-29", 0),
    ("ann", "2026-03-30", 1),
    ("eve", "2026-03-31", 2),
    ("eve", "2026-04-01", 50),
)
# eve has no snapshot row and dan no segment: neither is in any segment's scope
SCORES = pl.DataFrame(
    {
        "subscriber_id": ["ann", "bob", "cat", "dan"],
        "segment": ["loyal", "loyal", "new", None],
        "engagement": [80.0, 80.0, 90.0, 10.0],
    }
)
E = "everyone"

STANDINGS = [
    ("week to Sunday", {}, "2026-03-29", [(E, 1, "cat", 7), (E, 2, "ann", 5), (E, 2, "bob", 5)]),
    ("Monday resets the week", {}, "2026-03-30", [(E, 1, "ann", 1)]),
    ("the week so far", {}, "2026-03-31", [(E, 1, "eve", 2), (E, 2, "ann", 1)]),
    ("weeks from Sunday", {"week_starts": "sunday"}, "2026-03-29", [(E, 1, "cat", 7)]),
    ("a month", {"period": "monthly"}, "2026-03-31",
        [(E, 1, "ann", 106), (E, 2, "cat", 7), (E, 3, "bob", 5), (E, 4, "eve", 2)]),
    ("the 1st resets the month", {"period": "monthly"}, "2026-04-01", [(E, 1, "eve", 50)]),
    ("one day", {"period": "daily"}, "2026-03-29", [(E, 1, "cat", 7)]),
    ("all time, never after as_of", {"period": "all_time"}, "2026-03-31",
        [(E, 1, "ann", 106), (E, 2, "bob", 8), (E, 3, "cat", 7), (E, 4, "eve", 2)]),
    ("zeros listed", {"above": None}, "2026-03-29",
        [(E, 1, "cat", 7), (E, 2, "ann", 5), (E, 2, "bob", 5), (E, 4, "dan", 0)]),
    ("a higher minimum", {"above": 5}, "2026-03-29", [(E, 1, "cat", 7)]),
    ("divided for display", {"divide_by": 2, "above": 2.5}, "2026-03-29", [(E, 1, "cat", 3.5)]),
    ("a daily count", {"metric": "app_events", "period": "monthly"}, "2026-03-31",
        [(E, 1, "ann", 3), (E, 2, "bob", 1), (E, 2, "cat", 1), (E, 2, "dan", 1), (E, 2, "eve", 1)]),
    ("within segments", {"scope": "segment"}, "2026-03-29",
        [("loyal", 1, "ann", 5), ("loyal", 1, "bob", 5), ("new", 1, "cat", 7)]),
    ("segments, zeros listed", {"scope": "segment", "period": "monthly", "above": None}, "2026-03-31",
        [("loyal", 1, "ann", 106), ("loyal", 2, "bob", 5), ("new", 1, "cat", 7)]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "over", "as_of", "expected"), STANDINGS, ids=[c[0] for c in STANDINGS])
def test_standings(case: str, over: dict[str, Any], as_of: str, expected: list[tuple[str, int, str, float]]) -> None:
    frame = standings(DAILY, SCORES, metric_board(**over), D(as_of))
    assert frame.select("scope", "rank", "subscriber_id", "value").rows() == expected
    assert frame.get_column("place").to_list() == _places(frame.get_column("scope").to_list())


def _places(scopes: list[str]) -> list[int]:
    return [scopes[: i + 1].count(s) for i, s in enumerate(scopes)]


SCORE_STANDINGS = [
    ("everyone", {}, [(E, 1, "cat", 90), (E, 2, "ann", 80), (E, 2, "bob", 80), (E, 4, "dan", 10)]),
    ("within segments", {"scope": "segment"},
        [("loyal", 1, "ann", 80), ("loyal", 1, "bob", 80), ("new", 1, "cat", 90)]),
    ("above 50", {"above": 50}, [(E, 1, "cat", 90), (E, 2, "ann", 80), (E, 2, "bob", 80)]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "over", "expected"), SCORE_STANDINGS, ids=[c[0] for c in SCORE_STANDINGS])
def test_score_standings_read_the_snapshot(case: str, over: dict[str, Any], expected: list[tuple[Any, ...]]) -> None:
    frame = standings(DAILY, SCORES, score_board(**over), D("2026-03-31"))
    assert frame.select("scope", "rank", "subscriber_id", "value").rows() == expected


def test_ties_share_a_rank_and_are_listed_by_subscriber_id_whatever_the_input_order() -> None:
    rows = [(f"s{i:02d}", "2026-03-25", float(v)) for i, v in enumerate([3, 1, 3, 2, 3, 1, 5, 2])]
    expected = [
        (1, 1, "s06", 5), (2, 2, "s00", 3), (3, 2, "s02", 3), (4, 2, "s04", 3),
        (5, 5, "s03", 2), (6, 5, "s07", 2), (7, 7, "s01", 1), (8, 7, "s05", 1),
    ]  # fmt: skip
    for seed in range(5):
        random.Random(seed).shuffle(rows)
        frame = standings(daily(*rows), SCORES, metric_board(), D("2026-03-29"))
        assert frame.select("place", "rank", "subscriber_id", "value").rows() == expected


def test_sums_of_the_same_amounts_in_another_order_tie() -> None:
    rows = [("a", "2026-03-23", 0.1), ("a", "2026-03-24", 0.2), ("b", "2026-03-23", 0.3)]
    frame = standings(daily(*rows), SCORES, metric_board(metric="data_bytes"), D("2026-03-29"))
    assert frame.select("rank", "subscriber_id").rows() == [(1, "a"), (1, "b")]


def test_a_missing_scope_or_score_column_is_refused_naming_the_field() -> None:
    with pytest.raises(Invalid) as caught:
        standings(DAILY, SCORES, metric_board(scope="region"), D("2026-03-29"))
    assert caught.value.field == "scope"
    with pytest.raises(Invalid) as caught:
        standings(DAILY, SCORES.drop("engagement"), score_board(), D("2026-03-29"))
    assert caught.value.field == "score"


def test_an_empty_period_gives_an_empty_board() -> None:
    frame = standings(DAILY, SCORES, metric_board(period="daily"), D("2026-03-28"))
    assert frame.is_empty() and frame.columns == ["scope", "place", "rank", "subscriber_id", "value"]


# ---- storage and reads (SQLite only: the standings live in the lake) -----------------------------------------------


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime.open(
        load_settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'q.db'}", timezone=ZONE)
    )
    yield rt
    rt.db.engine.dispose()


_ids = iter(range(1, 10**9))


def data(subscriber: str, at: str, nbytes: float) -> dict[str, Any]:
    """A data session at a UTC instant."""
    return {
        "event_id": next(_ids),
        "subscriber_id": subscriber,
        "event_time": dt.datetime.fromisoformat(at).replace(tzinfo=dt.UTC),
        "source_kind": EVENT_TYPES["data_session"].kind.value,
        "source": "test",
        "event_type": "data_session",
        "value": nbytes,
        "unit": "bytes",
    }


def ingest(rt: Runtime, *events: dict[str, Any]) -> None:
    rt.events.append(pl.DataFrame(list(events), schema=EVENT_SCHEMA, strict=False))


def scored(rt: Runtime, day: str, frame: pl.DataFrame) -> None:
    """A scoring snapshot as a scoring run stores it."""
    rt.lake.replace_partition(SNAPSHOTS, SNAPSHOT_DATE, D(day), frame)


WEEK = metric_board(key="week", period="weekly").model_dump()
MONTH = metric_board(key="month", period="monthly").model_dump()
DST = load_leaderboards(document(WEEK, MONTH))

# UTC instants around the two changes of 2026 and what local day they fall on in London.
DST_EVENTS = [
    data("sat", "2026-03-28T12:00", 10),  # Saturday 28 March, GMT
    data("sun_late", "2026-03-29T22:30", 20),  # 23:30 BST, Sunday: still the week of 23 March
    data("mon_early", "2026-03-29T23:30", 30),  # 00:30 BST, Monday 30 March: a new week, though a Sunday in UTC
    data("apr_early", "2026-03-31T23:30", 50),  # 00:30 BST, 1 April: a new month, though March in UTC
    data("oct_sun", "2026-10-25T23:30", 40),  # 23:30 GMT, Sunday 25 October (BST ended that morning)
    data("oct_last", "2026-10-31T23:30", 60),  # 23:30 GMT, still October
]
DST_CASES = [
    ("week", "2026-03-29", ["sun_late", "sat"], "2026-03-23", "2026-03-30T00:00:00+01:00"),
    ("week", "2026-03-30", ["mon_early"], "2026-03-30", "2026-04-06T00:00:00+01:00"),
    ("month", "2026-03-31", ["mon_early", "sun_late", "sat"], "2026-03-01", "2026-04-01T00:00:00+01:00"),
    ("month", "2026-04-01", ["apr_early"], "2026-04-01", "2026-05-01T00:00:00+01:00"),
    ("week", "2026-10-25", ["oct_sun"], "2026-10-19", "2026-10-26T00:00:00+00:00"),
    ("month", "2026-10-31", ["oct_last", "oct_sun"], "2026-10-01", "2026-11-01T00:00:00+00:00"),
]


def test_periods_reset_at_local_midnight_across_daylight_saving_changes(runtime: Runtime) -> None:
    ingest(runtime, *DST_EVENTS)
    for key, as_of, leaders, start, resets in DST_CASES:
        refresh_leaderboards(runtime, D(as_of), config=DST)
        listing = top(runtime, key, as_of=D(as_of), config=DST)
        assert [e.subscriber_id for e in listing.entries] == leaders, (key, as_of)
        assert (listing.start, listing.as_of) == (D(start), D(as_of))
        assert listing.resets_at is not None and listing.resets_at.isoformat() == resets


# 12 subscribers: s01 used 12 MB ... s12 used 1 MB, except s05 and s06 who tie; odd ones `loyal`, even ones `new`.
VOLUMES = {f"s{i:02d}": float(13 - i) for i in range(1, 13)} | {"s06": 8.0}
ROUND = load_leaderboards(
    document(
        metric_board(key="week", divide_by=1e6, unit="MB").model_dump(),
        metric_board(key="week_segment", divide_by=1e6, scope="segment").model_dump(),
        score_board(key="engaged").model_dump(),
    )
)
THURSDAY = D("2026-11-05")


@pytest.fixture
def ranked(runtime: Runtime) -> Runtime:
    ingest(runtime, *(data(s, "2026-11-04T12:00", mb * 1e6) for s, mb in VOLUMES.items()))
    subscribers = sorted(VOLUMES)
    scored(
        runtime,
        "2026-11-04",
        pl.DataFrame(
            {
                "subscriber_id": subscribers,
                "segment": ["loyal" if int(s[1:]) % 2 else "new" for s in subscribers],
                "engagement": [float(i) for i in range(len(subscribers))],
            }
        ),
    )
    result = refresh_leaderboards(runtime, THURSDAY, config=ROUND)
    assert [b["key"] for b in result["boards"]] == ["week", "week_segment", "engaged"] and not result["skipped"]
    return runtime


def ids(listing: Any) -> list[str]:
    return [e.subscriber_id for e in listing.entries]


def test_top_lists_the_first_n_in_order(ranked: Runtime) -> None:
    listing = top(ranked, "week", 6, config=ROUND)
    assert [(e.rank, e.subscriber_id, e.value) for e in listing.entries] == [
        (1, "s01", 12), (2, "s02", 11), (3, "s03", 10), (4, "s04", 9), (5, "s05", 8), (5, "s06", 8),
    ]  # fmt: skip
    assert (listing.scope, listing.ranked, listing.unit, listing.period) == ("everyone", 12, "MB", "weekly")
    assert (listing.start, listing.end, listing.as_of) == (D("2026-11-02"), D("2026-11-08"), THURSDAY)
    assert len(top(ranked, "week", config=ROUND).entries) == 10  # the board's size
    assert ids(top(ranked, "week", 100, config=ROUND)) == sorted(VOLUMES)  # more than the board holds


def test_top_within_a_scope_or_of_every_scope(ranked: Runtime) -> None:
    loyal = top(ranked, "week_segment", 3, "loyal", config=ROUND)
    assert ids(loyal) == ["s01", "s03", "s05"] and [e.rank for e in loyal.entries] == [1, 2, 3]
    assert loyal.ranked == 6
    both = top(ranked, "week_segment", 2, config=ROUND)
    assert both.scope is None and both.ranked == 12
    assert [(e.scope, e.subscriber_id) for e in both.entries] == [
        ("loyal", "s01"), ("loyal", "s03"), ("new", "s02"), ("new", "s04"),
    ]  # fmt: skip
    nobody = top(ranked, "week_segment", 3, "dormant", config=ROUND)
    assert (nobody.entries, nobody.ranked) == ([], 0)


AROUND = [
    ("rank 1", "s01", 2, ["s01", "s02", "s03"]),
    ("the last rank", "s12", 2, ["s10", "s11", "s12"]),
    ("the middle", "s07", 2, ["s05", "s06", "s07", "s08", "s09"]),
    ("tied: listing order", "s05", 1, ["s04", "s05", "s06"]),
    ("k larger than the board", "s04", 50, sorted(VOLUMES)),
    ("k = 0", "s09", 0, ["s09"]),
]


@pytest.mark.parametrize(("case", "subscriber", "k", "expected"), AROUND, ids=[c[0] for c in AROUND])
def test_around_gives_the_neighbours_in_listing_order(
    ranked: Runtime, case: str, subscriber: str, k: int, expected: list[str]
) -> None:
    listing = around(ranked, "week", subscriber, k, config=ROUND)
    assert ids(listing) == expected
    assert listing.subscriber is not None and listing.subscriber.subscriber_id == subscriber
    assert listing.subscriber.rank == (5 if subscriber == "s06" else int(subscriber[1:]))


def test_around_stays_within_the_subscribers_scope(ranked: Runtime) -> None:
    listing = around(ranked, "week_segment", "s02", 3, config=ROUND)
    assert listing.scope == "new" and listing.ranked == 6
    assert ids(listing) == ["s02", "s04", "s06", "s08"]
    assert listing.subscriber is not None and listing.subscriber.rank == 1


def test_reads_refuse_naming_the_field(ranked: Runtime) -> None:
    failures: list[tuple[type[Exception], str, Any]] = [
        (NotFound, "subscriber_id", lambda: around(ranked, "week", "nobody", config=ROUND)),
        (NotFound, "key", lambda: top(ranked, "no_such_board", config=ROUND)),
        (NotFound, "key", lambda: top(ranked, "week", as_of=D("2026-01-01"), config=ROUND)),
        (Invalid, "n", lambda: top(ranked, "week", 0, config=ROUND)),
        (Invalid, "k", lambda: around(ranked, "week", "s01", -1, config=ROUND)),
    ]
    for error, field, read in failures:
        with pytest.raises(error) as caught:
            read()
        assert caught.value.field == field  # type: ignore[attr-defined]


def test_a_refresh_replaces_the_period_and_keeps_earlier_ones(ranked: Runtime) -> None:
    ingest(ranked, data("s12", "2026-11-05T09:00", 99e6))
    refresh_leaderboards(ranked, THURSDAY, config=ROUND)
    assert ids(top(ranked, "week", 2, config=ROUND)) == ["s12", "s01"]  # replaced, and the read sees the new file
    ingest(ranked, data("s03", "2026-11-09T09:00", 1e6))
    refresh_leaderboards(ranked, D("2026-11-09"), config=ROUND)
    assert ids(top(ranked, "week", config=ROUND)) == ["s03"]  # the latest period
    assert top(ranked, "week", 1, as_of=THURSDAY, config=ROUND).entries[0].subscriber_id == "s12"
    listed = {b["key"]: b["current"] for b in boards(ranked, config=ROUND)}
    assert listed["week"]["start"] == D("2026-11-09") and listed["week"]["entries"] == 1
    assert listed["engaged"]["start"] is None and listed["engaged"]["resets_at"] is None


def test_boards_lists_definitions_before_any_refresh(runtime: Runtime) -> None:
    listed = boards(runtime)
    assert [b["key"] for b in listed] == [b.key for b in load_leaderboards().boards]
    assert all(b["current"] is None for b in listed)
    with pytest.raises(NotFound):
        top(runtime, "data_week")


def test_boards_needing_a_snapshot_are_skipped_with_the_reason(runtime: Runtime) -> None:
    ingest(runtime, data("a", "2026-11-04T12:00", 5e9))
    result = refresh_leaderboards(runtime, THURSDAY)
    skipped = {s["key"]: s["reason"] for s in result["skipped"]}
    assert set(skipped) == {"data_week_region", "app_month_segment", "active_days_month_plan", "engagement"}
    assert all("questline score" in reason for reason in skipped.values())
    assert top(runtime, "data_week").entries[0].value == 5.0  # GB

    scored(runtime, "2026-11-04", pl.DataFrame({"subscriber_id": ["a"], "segment": ["new"], "engagement": [60.0]}))
    result = refresh_leaderboards(runtime, THURSDAY)
    assert result["skipped"] == [
        {"key": "data_week_region", "reason": "the scoring snapshot has no column 'region'"},
        {"key": "active_days_month_plan", "reason": "the scoring snapshot has no column 'plan'"},
    ]
    assert result["scores_as_of"] == "2026-11-04"
    assert top(runtime, "engagement").entries[0].value == 60.0


def test_a_snapshot_after_as_of_is_not_used(runtime: Runtime) -> None:
    ingest(runtime, data("a", "2026-11-04T12:00", 5e9))
    scored(runtime, "2026-11-06", pl.DataFrame({"subscriber_id": ["a"], "engagement": [60.0]}))
    result = refresh_leaderboards(runtime, THURSDAY, config=ROUND)
    assert result["scores_as_of"] is None
    assert [s["key"] for s in result["skipped"]] == ["week_segment", "engaged"]


def test_an_empty_board_reads_as_an_empty_listing(runtime: Runtime) -> None:
    ingest(runtime, data("a", "2026-11-04T12:00", 0))
    refresh_leaderboards(runtime, THURSDAY, config=ROUND)
    listing = top(runtime, "week", config=ROUND)
    assert (listing.entries, listing.ranked, listing.as_of, listing.start) == ([], 0, None, D("2026-11-02"))
    with pytest.raises(NotFound):
        around(runtime, "week", "a", config=ROUND)


def test_refresh_defaults_to_the_latest_day_in_the_lake(runtime: Runtime) -> None:
    with pytest.raises(Invalid) as caught:
        refresh_leaderboards(runtime, config=ROUND)
    assert caught.value.field == "as_of"
    ingest(runtime, data("a", "2026-11-04T12:00", 1e6), data("a", "2026-11-06T12:00", 1e6))
    assert refresh_leaderboards(runtime, config=ROUND)["as_of"] == "2026-11-06"


def test_the_docs_describe_every_shipped_board() -> None:
    text = (Path(__file__).parents[2] / "docs" / "leaderboards.md").read_text()
    for board in load_leaderboards().boards:
        assert f"| `{board.key}` |" in text, board.key


def test_a_listing_is_json_ready(ranked: Runtime) -> None:
    body = around(ranked, "week", "s01", 1, config=ROUND).model_dump(mode="json")
    assert body["resets_at"] == "2026-11-09T00:00:00Z" and body["start"] == "2026-11-02"
    assert body["subscriber"] == {"scope": "everyone", "place": 1, "rank": 1, "subscriber_id": "s01", "value": 12.0}


def test_stored_standings_equal_the_pure_function(ranked: Runtime) -> None:
    """A refresh shares one group-by between the boards of a period; what it stores is still `standings`."""
    daily_table, scores = scan_daily(ranked.lake), snapshot(ranked).collect()
    for board in ROUND.boards:
        stored = load(ranked, partition_value(board, THURSDAY)).drop("as_of")
        assert stored.equals(standings(daily_table, scores, board, THURSDAY)), board.key
