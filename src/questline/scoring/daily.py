"""The subscriber-day table: one row per (subscriber, local date) with every metric the features read.

Built from the event lake with one polars group-by and stored as lake table `daily`, partitioned by `date`. A refresh
recomputes only the dates whose event partitions changed since the last build (a new day, or late events for an old
one), found by comparing a fingerprint of each event partition's file list with the manifest of the last build."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import polars as pl

from questline.events.schema import EVENT_SCHEMA
from questline.events.store import PARTITION as EVENT_DATE
from questline.events.store import TABLE as EVENTS
from questline.events.store import EventStore
from questline.events.vocabulary import EVENT_TYPE_NAMES, EVENT_TYPES, SourceKind
from questline.kit.errors import Invalid
from questline.kit.lake import Lake

TABLE = "daily"
PARTITION = "date"
MANIFEST = "daily-manifest"
KEYS = ("subscriber_id", PARTITION)

# Top-up channels counted as digital self-service (compared lower-case).
DIGITAL_CHANNELS = frozenset({"app", "web", "online", "internet", "mobile_app", "self_care", "ussd"})

USAGE_TYPES = ("voice_call", "sms", "data_session")
BILLING_TYPES = tuple(name for name, t in EVENT_TYPES.items() if t.kind is SourceKind.BILLING)
APP_TYPES = tuple(name for name, t in EVENT_TYPES.items() if t.kind is SourceKind.APP)
PLAN_TYPES = ("subscriber_activated", "plan_changed")
COUNT = pl.UInt32()
AMOUNT = pl.Float64()

_type = pl.col("event_type")
_value = pl.col("value").fill_null(0.0)


@dataclass(frozen=True)
class Metric:
    name: str
    definition: str
    expr: pl.Expr  # an aggregation over one subscriber-day's events


def _count(name: str, definition: str, condition: pl.Expr) -> Metric:
    return Metric(name, definition, condition.sum().cast(COUNT))


def _total(name: str, definition: str, condition: pl.Expr) -> Metric:
    # when/then rather than filter: an elementwise input keeps the group-by on polars' fast path.
    return Metric(name, definition, pl.when(condition).then(_value).otherwise(0.0).sum().cast(AMOUNT))


def _events(name: str, event_type: str) -> Metric:
    return _count(name, f"number of `{event_type}` events", _type == event_type)


_voice = _type == "voice_call"
_data = _type == "data_session"
_money = _type.is_in(["recharge", "bundle_purchase", "bill_payment"])
_digital = pl.col("channel").str.to_lowercase().is_in(list(DIGITAL_CHANNELS)).fill_null(False)

METRICS: tuple[Metric, ...] = (
    _total("voice_s", "seconds of voice calls", _voice),
    _events("voice_calls", "voice_call"),
    _total("voice_out_s", "seconds of outgoing calls (`direction` = out)", _voice & (pl.col("direction") == "out")),
    _total("voice_in_s", "seconds of incoming calls (`direction` = in)", _voice & (pl.col("direction") == "in")),
    _total("voice_onnet_s", "seconds of on-net calls (`on_net`)", _voice & pl.col("on_net")),
    _total("voice_roaming_s", "seconds of calls while roaming (`roaming`)", _voice & pl.col("roaming")),
    _events("sms", "sms"),
    _total("data_bytes", "bytes of data sessions", _data),
    _total("data_roaming_bytes", "bytes of data sessions while roaming", _data & pl.col("roaming")),
    _events("data_sessions", "data_session"),
    _events("recharge_count", "recharge"),
    _total("recharge_amount", "amount topped up", _type == "recharge"),
    _count(
        "recharge_digital_count",
        "top-ups through a digital channel (`channel` app, web, online, internet, mobile_app, self_care, ussd)",
        (_type == "recharge") & _digital,
    ),
    _events("bundle_count", "bundle_purchase"),
    _total("bundle_amount", "amount spent on bundles", _type == "bundle_purchase"),
    _events("payment_count", "bill_payment"),
    _total("payment_amount", "amount of bills paid", _type == "bill_payment"),
    _count("payments_on_time", "bill payments made on time (`on_time`)", (_type == "bill_payment") & pl.col("on_time")),
    _events("auto_renew", "auto_renew_enabled"),
    _events("app_installs", "app_install"),
    _events("app_logins", "app_login"),
    _count("app_events", "events of any app type", _type.is_in(list(APP_TYPES))),
    _events("features_used", "feature_used"),
    _events("content_views", "content_view"),
    _events("shares", "share"),
    _events("referrals", "referral"),
    _events("profile_completed", "profile_completed"),
    _events("activations", "subscriber_activated"),
    _events("plan_changes", "plan_changed"),
    _events("complaints", "complaint"),
    _events("port_out_requests", "port_out_request"),
    _events("deactivations", "deactivated"),
    _events("dropped_calls", "dropped_call"),
    _total("poor_throughput_s", "seconds of degraded throughput", _type == "poor_throughput"),
    _total("outage_s", "seconds in an outage's area", _type == "outage_affected"),
    _total("qoe_sum", "sum of quality-of-experience scores (MOS)", _type == "qoe_measurement"),
    _events("qoe_count", "qoe_measurement"),
    _total("revenue", "recharge + bundle + bill payment amounts", _money),
    Metric(
        "active",
        "any usage (voice, SMS, data), billing or app event that day",
        _type.is_in([*USAGE_TYPES, *BILLING_TYPES, *APP_TYPES]).any(),
    ),
)

# Columns that are not sums: the plan, the set of app features, the set of event types.
ATTRIBUTES: tuple[Metric, ...] = (
    Metric(
        "event_types",
        "bit set of the event types seen that day: bit i is the i-th type of the vocabulary",
        pl.lit(2, pl.UInt32).pow(_type.to_physical()).cast(pl.UInt32).bitwise_or(),
    ),
)


@dataclass(frozen=True)
class Sparse:
    """A column computed from the few events that match `rows` by its own group-by, then joined: a filter inside the
    main group-by would be evaluated group by group, which is several times slower. `per_day` takes those events and
    gives one row per (subscriber_id, date) with one more column, which takes the name `name`."""

    name: str
    definition: str
    rows: pl.Expr
    per_day: Callable[[pl.LazyFrame], pl.LazyFrame]
    empty: pl.Expr | None = None


def _aggregated(expr: pl.Expr) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    return lambda rows: rows.group_by(*KEYS).agg(expr)


def most_frequent(counted: pl.LazyFrame, keys: str | list[str], value: str, count: str) -> pl.LazyFrame:
    """Per `keys`, the `value` with the largest `count`; of equals, the smallest (deterministic). A window max then
    a plain min: a filter inside the group-by's aggregation takes seven times as long at 1M groups."""
    top = counted.filter(pl.col(count) == pl.col(count).max().over(keys))
    return top.group_by(keys).agg(pl.col(value).min())


def _most_used_cell(rows: pl.LazyFrame) -> pl.LazyFrame:
    """The cell with the most events of the day (counting per cell first: `mode()` in the group-by is slower)."""
    per_cell = rows.group_by(*KEYS, "cell").agg(pl.len().alias("n"))
    return most_frequent(per_cell, list(KEYS), "cell", "n")


SPARSE: tuple[Sparse, ...] = (
    Sparse(
        "plan",
        "the last plan seen that day (`subscriber_activated` / `plan_changed`), else null",
        _type.is_in(list(PLAN_TYPES)) & pl.col("plan").is_not_null(),
        _aggregated(pl.col("plan").sort_by("event_time", "event_id").last()),
    ),
    Sparse(
        "features",
        "the distinct app features used that day, sorted",
        (_type == "feature_used") & pl.col("feature").is_not_null(),
        _aggregated(pl.col("feature").unique().sort()),
        pl.lit([], pl.List(pl.String)),
    ),
    Sparse(
        "home_cell",
        "the home-network cell with the most events that day (`cell`, not `roaming`; of equals the smallest)",
        pl.col("cell").is_not_null() & ~pl.col("roaming").fill_null(False),
        _most_used_cell,
    ),
)

_COLUMNS: tuple[Metric | Sparse, ...] = (*METRICS, *SPARSE, *ATTRIBUTES)
# The columns that add up over days (`active`, a flag, adds up to active days); not plan, features, cells, bits.
NUMERIC_METRICS: tuple[str, ...] = tuple(m.name for m in METRICS)
DAILY_METRICS: dict[str, str] = {c.name: c.definition for c in _COLUMNS}
EVENT_TYPE_BITS: dict[str, int] = {name: 1 << i for i, name in enumerate(EVENT_TYPE_NAMES)}
_DEFINITION = "\n".join(f"{name}: {definition}" for name, definition in DAILY_METRICS.items())


def daily_metrics(events: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (subscriber_id, date) from events as `EventStore.scan` gives them."""
    events = events.rename({EVENT_DATE: PARTITION})
    daily = events.group_by(*KEYS).agg(*(m.expr.alias(m.name) for m in (*METRICS, *ATTRIBUTES)))
    for column in SPARSE:
        found = column.per_day(events.filter(column.rows)).select(*KEYS, pl.exclude(KEYS).alias(column.name))
        daily = daily.join(found, on=KEYS, how="left")
        if column.empty is not None:
            daily = daily.with_columns(pl.col(column.name).fill_null(column.empty))
    return daily.select(*KEYS, *DAILY_METRICS).sort(*KEYS)


def empty_daily() -> pl.LazyFrame:
    events = EVENT_SCHEMA.to_frame().lazy().with_columns(pl.lit(None, pl.Date).alias(EVENT_DATE))
    return daily_metrics(events)


@dataclass(frozen=True)
class Refreshed:
    rebuilt: list[dt.date]
    removed: list[dt.date]


def scan_daily(lake: Lake) -> pl.LazyFrame:
    """The stored daily table (empty with its schema before the first build)."""
    frame = lake.scan(TABLE)
    if frame is None:
        return empty_daily()
    return frame.with_columns(pl.col(PARTITION).cast(pl.Date)).select(empty_daily().collect_schema().names())


def latest_day(daily: pl.LazyFrame) -> dt.date:
    """The latest local date in the daily table; a clear error while the lake is still empty."""
    latest = daily.select(pl.col(PARTITION).max()).collect().item()
    if latest is None:
        raise Invalid("the lake holds no events yet: sync a source first", field="as_of")
    day: dt.date = latest
    return day


def refresh_daily(lake: Lake, events: EventStore, *, dates: Iterable[dt.date] | None = None) -> Refreshed:
    """Recompute the daily partitions whose events changed since the last build, or exactly `dates` when given.

    The manifest is written after the data: a crash in between only means the same dates are recomputed again."""
    current = _fingerprints(lake)
    built = lake.read_manifest(MANIFEST)
    if dates is None:
        stale = sorted(d for d, fp in current.items() if built.get(d) != fp)
    else:
        stale = sorted({d.isoformat() for d in dates} & current.keys())
    gone = sorted(built.keys() - current.keys())
    _rebuild(lake, events, [dt.date.fromisoformat(d) for d in stale])
    for d in gone:
        lake.drop_partition(TABLE, PARTITION, d)
    manifest = {d: fp for d, fp in built.items() if d in current} | {d: current[d] for d in stale}
    lake.write_manifest(MANIFEST, manifest)
    return Refreshed([dt.date.fromisoformat(d) for d in stale], [dt.date.fromisoformat(d) for d in gone])


def _fingerprints(lake: Lake) -> dict[str, str]:
    """Per event date, a digest of its sorted file names (appends always add new files, so it changes with content)
    and of the table's columns and their definitions, so a new release's columns rebuild every date once."""
    return {
        value: hashlib.sha256("\n".join([_DEFINITION, *files]).encode()).hexdigest()
        for value, files in lake.partition_files(EVENTS, EVENT_DATE).items()
    }


def _rebuild(lake: Lake, events: EventStore, dates: list[dt.date]) -> None:
    if not dates:
        return
    scope = events.scan(dates[0], dates[-1]).filter(pl.col(EVENT_DATE).is_in(dates))
    daily = daily_metrics(scope).collect()
    parts = daily.partition_by(PARTITION, as_dict=True, include_key=False)
    for day in dates:
        part = parts.get((day,))
        if part is None:
            lake.drop_partition(TABLE, PARTITION, day.isoformat())
        else:
            lake.replace_partition(TABLE, PARTITION, day.isoformat(), part)
