"""The subscriber-day table: each metric from hand-made events, and incremental refresh equal to a full rebuild."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from questline.events.schema import EVENT_SCHEMA
from questline.events.store import EventStore
from questline.events.vocabulary import EVENT_TYPES
from questline.kit.lake import Lake
from questline.scoring.daily import (
    DAILY_METRICS,
    EVENT_TYPE_BITS,
    MANIFEST,
    daily_metrics,
    refresh_daily,
    scan_daily,
)

ZONE = "Europe/London"
DAY = dt.date(2026, 11, 2)
_ids = iter(range(1, 10**9))


def event(
    event_type: str, value: float | None = None, *, sub: str = "a", at: str = "2026-11-02 10:00", **attrs: Any
) -> dict[str, Any]:
    """One normalized event; `at` is UTC."""
    return {
        "event_id": next(_ids),
        "subscriber_id": sub,
        "event_time": dt.datetime.fromisoformat(at).replace(tzinfo=dt.UTC),
        "source_kind": EVENT_TYPES[event_type].kind.value,
        "source": "test",
        "event_type": event_type,
        "value": value,
        **attrs,
    }


def frame(*events: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(events), schema=EVENT_SCHEMA, strict=False)


def daily_of(*events: dict[str, Any]) -> pl.DataFrame:
    dated = frame(*events).with_columns(pl.col("event_time").dt.convert_time_zone(ZONE).dt.date().alias("event_date"))
    return daily_metrics(dated.lazy()).collect()


def one(metric: str, *events: dict[str, Any]) -> Any:
    out = daily_of(*events)
    assert out.height == 1
    return out.item(0, metric)


CASES = [
    ("voice_s", [event("voice_call", 60), event("voice_call", 30), event("sms", 1)], 90.0),
    ("voice_calls", [event("voice_call", 60), event("voice_call", 30)], 2),
    ("voice_out_s", [event("voice_call", 60, direction="out"), event("voice_call", 5, direction="in")], 60.0),
    ("voice_in_s", [event("voice_call", 60, direction="out"), event("voice_call", 5, direction="in")], 5.0),
    ("voice_onnet_s", [event("voice_call", 60, on_net=True), event("voice_call", 5, on_net=False)], 60.0),
    ("voice_roaming_s", [event("voice_call", 60, roaming=True), event("voice_call", 5)], 60.0),
    ("sms", [event("sms", 1), event("sms")], 2),
    ("data_bytes", [event("data_session", 1e6), event("data_session", 2e6, roaming=True)], 3e6),
    ("data_roaming_bytes", [event("data_session", 1e6), event("data_session", 2e6, roaming=True)], 2e6),
    ("data_sessions", [event("data_session", 1e6), event("data_session", 2e6)], 2),
    ("recharge_count", [event("recharge", 10), event("recharge", 5)], 2),
    ("recharge_amount", [event("recharge", 10), event("recharge", 5)], 15.0),
    ("recharge_digital_count", [event("recharge", 1, channel="APP"), event("recharge", 1, channel="Web"),
                                event("recharge", 1, channel="RETAIL"), event("recharge", 1)], 2),
    ("bundle_count", [event("bundle_purchase", 3)], 1),
    ("bundle_amount", [event("bundle_purchase", 3), event("bundle_purchase", 4)], 7.0),
    ("payment_count", [event("bill_payment", 30, on_time=True), event("bill_payment", 20, on_time=False)], 2),
    ("payment_amount", [event("bill_payment", 30, on_time=True), event("bill_payment", 20, on_time=False)], 50.0),
    ("payments_on_time", [event("bill_payment", 30, on_time=True), event("bill_payment", 20, on_time=False)], 1),
    ("auto_renew", [event("auto_renew_enabled", 1)], 1),
    ("app_installs", [event("app_install", 1)], 1),
    ("app_logins", [event("app_login", 1), event("app_login", 1)], 2),
    ("app_events", [event("app_login"), event("feature_used"), event("share"), event("sms")], 3),
    ("features_used", [event("feature_used", feature="x"), event("feature_used", feature="x")], 2),
    ("content_views", [event("content_view")], 1),
    ("shares", [event("share")], 1),
    ("referrals", [event("referral")], 1),
    ("profile_completed", [event("profile_completed")], 1),
    ("activations", [event("subscriber_activated", plan="p")], 1),
    ("plan_changes", [event("plan_changed", plan="p")], 1),
    ("complaints", [event("complaint")], 1),
    ("port_out_requests", [event("port_out_request")], 1),
    ("deactivations", [event("deactivated")], 1),
    ("dropped_calls", [event("dropped_call"), event("dropped_call")], 2),
    ("poor_throughput_s", [event("poor_throughput", 40)], 40.0),
    ("outage_s", [event("outage_affected", 600), event("outage_affected", 60)], 660.0),
    ("qoe_sum", [event("qoe_measurement", 4.0), event("qoe_measurement", 3.5)], 7.5),
    ("qoe_count", [event("qoe_measurement", 4.0), event("qoe_measurement", 3.5)], 2),
    ("revenue", [event("recharge", 10), event("bundle_purchase", 3), event("bill_payment", 7), event("sms", 1)], 20.0),
    ("active", [event("sms", 1)], True),
    ("active", [event("app_login")], True),
    ("active", [event("recharge", 1)], True),
    ("active", [event("dropped_call"), event("complaint"), event("deactivated")], False),
    ("plan", [event("plan_changed", plan="late", at="2026-11-02 20:00"),
              event("subscriber_activated", plan="early", at="2026-11-02 08:00")], "late"),
    ("plan", [event("sms", 1)], None),
    ("features", [event("feature_used", feature="b"), event("feature_used", feature="a"),
                  event("feature_used", feature="b")], ["a", "b"]),
    ("home_cell", [event("voice_call", 1, cell="234-15-1-9"), event("sms", 1, cell="234-15-1-2"),
                   event("data_session", 1, cell="234-15-1-2"), event("sms", 1, cell="208-01-7-7", roaming=True),
                   event("sms", 1, cell="208-01-7-7", roaming=True), event("sms", 1, cell="208-01-7-7", roaming=True)],
     "234-15-1-2"),
    ("home_cell", [event("sms", 1, cell="234-15-1-9"), event("sms", 1, cell="234-15-1-2")], "234-15-1-2"),
    ("home_cell", [event("sms", 1), event("recharge", 5)], None),
    ("event_types", [event("sms"), event("sms"), event("app_login")],
     EVENT_TYPE_BITS["sms"] | EVENT_TYPE_BITS["app_login"]),
]  # fmt: skip


@pytest.mark.parametrize(("metric", "events", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_metric(metric: str, events: list[dict[str, Any]], expected: Any) -> None:
    got = one(metric, *events)
    assert (got.to_list() if isinstance(got, pl.Series) else got) == expected


def test_every_metric_is_tested_and_catalogued() -> None:
    assert {c[0] for c in CASES} == set(DAILY_METRICS)
    assert set(daily_of(event("sms")).columns) == {"subscriber_id", "date", *DAILY_METRICS}


def test_rows_are_per_subscriber_and_local_date() -> None:
    # 23:30 UTC on 1 Nov is still 1 Nov in London (GMT); in summer it would be the next day.
    out = daily_of(
        event("sms", sub="a", at="2026-11-01 23:30"),
        event("sms", sub="a", at="2026-11-02 00:30"),
        event("sms", sub="b", at="2026-07-01 23:30"),
    )
    assert out.select("subscriber_id", "date", "sms").rows() == [
        ("a", dt.date(2026, 11, 1), 1),
        ("a", dt.date(2026, 11, 2), 1),
        ("b", dt.date(2026, 7, 2), 1),
    ]


# --- incremental storage --------------------------------------------------------------------------------------


def store(tmp_path: Path) -> tuple[Lake, EventStore]:
    lake = Lake(tmp_path / "lake")
    return lake, EventStore(lake, ZONE)


def full_build(events: EventStore) -> pl.DataFrame:
    return daily_metrics(events.scan()).collect()


def stored(lake: Lake) -> pl.DataFrame:
    return scan_daily(lake).sort("subscriber_id", "date").collect()


def test_refresh_recomputes_only_touched_dates(tmp_path: Path) -> None:
    lake, events = store(tmp_path)
    first = frame(event("sms", 1, at="2026-11-01 10:00"), event("sms", 1, at="2026-11-02 10:00"))
    events.append(first)
    assert refresh_daily(lake, events).rebuilt == [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]
    assert refresh_daily(lake, events).rebuilt == []  # nothing changed: nothing recomputed

    events.append(frame(event("sms", 1, at="2026-11-03 10:00")))  # a new day
    assert refresh_daily(lake, events).rebuilt == [dt.date(2026, 11, 3)]

    events.append(frame(event("voice_call", 60, sub="b", at="2026-11-01 12:00")))  # a late event for an old day
    assert refresh_daily(lake, events).rebuilt == [dt.date(2026, 11, 1)]
    assert stored(lake).equals(full_build(events).sort("subscriber_id", "date"))

    events.append(first)
    assert refresh_daily(lake, events).rebuilt == []  # a replayed (duplicate) event adds no file


def test_explicit_dates_force_a_rebuild_and_each_partition_is_one_file(tmp_path: Path) -> None:
    lake, events = store(tmp_path)
    events.append(frame(event("sms", 1, at="2026-11-01 10:00"), event("sms", 1, at="2026-11-02 10:00")))
    refresh_daily(lake, events)
    before = stored(lake)
    assert refresh_daily(lake, events, dates=[dt.date(2026, 11, 2), dt.date(2030, 1, 1)]).rebuilt == [
        dt.date(2026, 11, 2)
    ]
    assert stored(lake).equals(before)
    assert all(len(files) == 1 for files in lake.partition_files("daily", "date").values())
    assert lake.read_manifest(MANIFEST).keys() == {"2026-11-01", "2026-11-02"}


def test_empty_lake_gives_an_empty_table_with_its_schema(tmp_path: Path) -> None:
    lake, events = store(tmp_path)
    assert refresh_daily(lake, events).rebuilt == []
    assert stored(lake).is_empty()
    assert "voice_s" in stored(lake).columns


TYPES = ["voice_call", "sms", "data_session", "recharge", "app_login", "feature_used", "plan_changed", "complaint"]
EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(TYPES),
        st.integers(0, 5 * 24 * 60 - 1),  # minutes into a five-day span
        st.integers(0, 3),  # the arrival batch it comes in
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=EVENTS)
def test_incremental_refresh_equals_a_full_rebuild(tmp_path_factory: pytest.TempPathFactory, rows: list[Any]) -> None:
    lake, events = store(tmp_path_factory.mktemp("lake"))
    start = dt.datetime(2026, 10, 30, tzinfo=dt.UTC)
    made = [
        (batch, event(t, 1.0, sub=s, at=(start + dt.timedelta(minutes=m)).isoformat()[:16], plan="p", feature="f"))
        for s, t, m, batch in rows
    ]
    for batch in sorted({b for b, _ in made}):
        events.append(frame(*(e for b, e in made if b == batch)))
        refresh_daily(lake, events)
    assert stored(lake).equals(full_build(events).sort("subscriber_id", "date"))
