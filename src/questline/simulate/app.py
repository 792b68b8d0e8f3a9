"""The self-care app's analytics stream: CloudEvents 1.0, structured JSON, one event per line, a file a day.

Logins drive the rest: features used and content viewed happen inside a login's session, minutes after it."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from questline.events.vocabulary import SourceKind
from questline.simulate import personas as P
from questline.simulate.calendar import APP_HOURS, Calendar, draw, utc_text
from questline.simulate.feed import Defect, Feed, day_file, encode_by
from questline.simulate.population import NEVER, Population

SOURCE = "selfcare-app"
DIRECTORY = "app"
PREFIX = "com.operator.selfcare."
TYPES = {
    "app_install": "app.installed",
    "app_login": "login",
    "feature_used": "feature.used",
    "content_view": "content.viewed",
    "share": "content.shared",
    "referral": "referral.sent",
    "profile_completed": "profile.completed",
}
FEATURES = (
    "balance_check", "usage_history", "top_up", "bundle_shop", "bill_pay", "plan_compare", "roaming_settings",
    "support_chat", "rewards", "esim_setup",
)  # fmt: skip
CONTENT = (
    "offer-weekend-data", "offer-family-plan", "article-5g-coverage", "video-esim-howto", "article-roaming-rates",
    "offer-device-upgrade", "article-scam-alert",
)  # fmt: skip
SHARE_CHANNELS = ("whatsapp", "sms", "facebook", "email", "copy_link")
PROFILE_CHANCE = {"new_joiner": 0.5, "digital_native": 0.3}


def one_offs(pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    """Installs and completed profiles: at most once per subscriber in the period, drawn up front."""
    return pl.concat([_installs(pop, cal, rng), _profiles(pop, cal, rng)])


def feed(pop: Population, cal: Calendar, days: range, once: pl.DataFrame, rng: np.random.Generator) -> Feed:
    """The events of some days; `once` holds the period's one-off events (`one_offs`)."""
    logins = _logins(pop, cal, days, rng)
    parts = [
        once.filter(pl.col("day").is_between(days.start, days.stop - 1)),
        logins,
        _in_session(logins, pop, cal, "feature_used", "features_per_login", rng),
        _in_session(logins, pop, cal, "content_view", "views_per_login", rng),
        _daily(pop, cal, days, "share", "shares", rng),
        _daily(pop, cal, days, "referral", "referrals", rng),
    ]
    frame = pl.concat(parts).sort("t", "_sub", maintain_order=True)
    return Feed(SOURCE, SourceKind.APP, _records(frame, pop, cal, rng), render, DEFECTS, resend_share=0.0005)


def _installed(pop: Population, days: range) -> np.ndarray:
    """Subscribers x days: the app is on the phone for the whole day."""
    return np.arange(days.start, days.stop)[None, :] > pop.install_day[:, None]


def _frame(sub: np.ndarray, event_type: str, t: np.ndarray, day: np.ndarray) -> pl.DataFrame:
    """Events of one type; `day` is the period day whose file holds them (a session's day, past midnight too)."""
    columns = {"_sub": sub, "_type": event_type, "t": t, "day": day}
    return pl.DataFrame(columns, schema={"_sub": pl.Int64, "_type": pl.String, "t": pl.Int64, "day": pl.Int64})


def _installs(pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    sub = np.flatnonzero((pop.install_day >= 0) & (pop.install_day < NEVER))
    joiner = pop.activation_day[sub] >= 0
    at_shop = pop.activation_ms[sub] + rng.integers(10, 120, sub.size) * 60_000
    day = pop.install_day[sub]
    return _frame(sub, "app_install", np.where(joiner, at_shop, cal.instants(day, APP_HOURS, rng)), day)


def _span(pop: Population, days: range) -> np.ndarray:
    return pop.alive[:, days.start : days.stop] * _installed(pop, days)


def _logins(pop: Population, cal: Calendar, days: range, rng: np.random.Generator) -> pl.DataFrame:
    weekend = np.where(cal.weekend[days.start : days.stop], 1.2, 1.0)[None, :]
    sub, day = draw(pop.rate("logins") * pop.volume, _span(pop, days) * weekend, rng)
    day += days.start
    return _frame(sub, "app_login", cal.instants(day, APP_HOURS, rng), day)


def _in_session(
    logins: pl.DataFrame, pop: Population, cal: Calendar, event_type: str, rate: str, rng: np.random.Generator
) -> pl.DataFrame:
    """Events during a login's session: a Poisson number per login, spread over the following minutes (kept
    inside the period)."""
    login_sub = logins["_sub"].to_numpy()
    counts = rng.poisson(pop.rate(rate)[login_sub])
    which = np.repeat(np.arange(login_sub.size), counts)
    offset = rng.integers(5_000, 600_000, which.size)
    t = np.minimum(logins["t"].to_numpy()[which] + offset, cal.midnights[-1] - 1)
    return _frame(login_sub[which], event_type, t, logins["day"].to_numpy()[which])


def _daily(
    pop: Population, cal: Calendar, days: range, event_type: str, rate: str, rng: np.random.Generator
) -> pl.DataFrame:
    sub, day = draw(pop.rate(rate), _span(pop, days), rng)
    day += days.start
    return _frame(sub, event_type, cal.instants(day, APP_HOURS, rng), day)


def _profiles(pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    """Completed once, some days after installing (or during the period for long-time users)."""
    chance = np.array([PROFILE_CHANCE.get(name, 0.1) for name in P.PERSONA_NAMES])[pop.persona]
    first = np.maximum(pop.install_day, 0)
    day = first + rng.integers(0, 8, pop.size)
    alive = pop.alive[np.arange(pop.size), np.minimum(day, cal.days - 1)] > 0
    sub = np.flatnonzero((rng.random(pop.size) < chance) & (pop.install_day < NEVER) & (day < cal.days) & alive)
    return _frame(sub, "profile_completed", cal.instants(day[sub], APP_HOURS, rng), day[sub])


def _records(frame: pl.DataFrame, pop: Population, cal: Calendar, rng: np.random.Generator) -> pl.DataFrame:
    sub, n = frame["_sub"].to_numpy(), frame.height
    device = pop.device.gather(sub)
    ios = device.str.starts_with("Apple")
    dates = [cal.date(d).strftime("%Y%m%d") for d in range(cal.days)]
    return frame.with_columns(
        pl.Series("_file", day_file(f"{DIRECTORY}/selfcare_events_", ".jsonl", dates)(frame["day"].to_numpy())),
        pl.lit("1.0").alias("specversion"),
        _uuids(n, rng).alias("id"),
        pl.when(ios).then(pl.lit("/selfcare/ios")).otherwise(pl.lit("/selfcare/android")).alias("source"),
        (PREFIX + pl.col("_type").replace_strict(TYPES)).alias("type"),
        pop.e164.gather(sub).alias("subject"),
        utc_text(pl.col("t")).alias("time"),
        pl.lit("application/json").alias("datacontenttype"),
        device.alias("device"),
        pl.when(ios).then(pl.lit("ios")).otherwise(pl.lit("android")).alias("os"),
        pl.Series(np.array(["5.11.2", "5.12.0", "5.12.1"])[rng.integers(0, 3, n)]).alias("appVersion"),
        pl.Series(FEATURES).gather(rng.integers(0, len(FEATURES), n)).alias("feature"),
        pl.Series(CONTENT).gather(rng.integers(0, len(CONTENT), n)).alias("content"),
        pl.Series(SHARE_CHANNELS).gather(rng.integers(0, len(SHARE_CHANNELS), n)).alias("channel"),
        pl.Series(rng.integers(2_000, 180_000, n)).alias("durationMs"),
        ("REF" + pop.customer_id.gather(sub).str.slice(3)).alias("referralCode"),
    )


def _uuids(n: int, rng: np.random.Generator) -> pl.Series:
    """Random version-4 UUIDs, from the seeded generator rather than the system's entropy."""
    hexed = pl.Series([rng.bytes(16 * n).hex()]).str.extract_all(".{32}").explode()
    if n == 0:
        return pl.Series(dtype=pl.String)
    part = hexed.str.slice
    return pl.select(
        pl.format("{}-{}-4{}-a{}-{}", part(0, 8), part(8, 4), part(13, 3), part(17, 3), part(20, 12))
    ).to_series()


COMMON = ("specversion", "id", "source", "type", "subject", "time", "datacontenttype")
DATA = {
    "app_install": ("device", "os", "appVersion"),
    "app_login": ("device", "os", "appVersion"),
    "feature_used": ("feature", "device"),
    "content_view": ("content", "durationMs"),
    "share": ("content", "channel"),
    "referral": ("referralCode", "channel"),
    "profile_completed": ("device",),
}


def render(records: pl.DataFrame) -> pl.Series:
    shapes = {t: [*map(pl.col, COMMON), pl.struct(*members).alias("data")] for t, members in DATA.items()}
    return encode_by(records, "_type", shapes)


def _drop(member: str) -> Defect:
    return Defect(f"missing {member}", lambda r: render(r).str.replace(f'"{member}":"[^"]*",', ""))


DEFECTS = (
    Defect("invalid JSON", lambda r: render(r).str.slice(0, render(r).str.len_chars() // 2)),
    _drop("specversion"),  # a required attribute: the event is not a CloudEvent
    _drop("subject"),  # optional for CloudEvents, but without it there is no subscriber
    Defect("unknown event type", lambda r: render(r).str.replace(r'"type":"[^"]*"', f'"type":"{PREFIX}logout"')),
    Defect("unparseable timestamp", lambda r: render(r.with_columns(time=pl.col("time").str.replace("T", " ")))),
)


def spec() -> dict[str, Any]:
    return {
        "name": SOURCE,
        "kind": "app",
        "description": "Self-care app analytics: CloudEvents 1.0 JSON Lines, subject = the subscriber's MSISDN",
        "format": {"type": "cloudevents"},
        "location": {"files": f"{DIRECTORY}/selfcare_events_*.jsonl"},
        "schedule": "5m",
        "mapping": {
            "subscriber_id": {"field": "subject", "msisdn": {"country_code": "44"}},
            "event_time": {"field": "time"},
            "event_type": {"field": "type", "lookup": {PREFIX + code: name for name, code in TYPES.items()}},
            "attributes": {"device": "data.device", "feature": "data.feature", "channel": "data.channel"},
            "natural_key": ["source", "id"],
        },
    }
