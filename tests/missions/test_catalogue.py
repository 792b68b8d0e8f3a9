"""The built-in catalogue: every template the seed names, all five categories, 250+ concrete missions, and for each
template a subscriber who behaves accordingly completes it while one who does not, does not."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from questline.events.schema import EVENT_SCHEMA
from questline.events.vocabulary import EVENT_TYPES
from questline.missions.template import CATEGORIES, DURATION, render
from questline.missions.templates import builtin
from questline.missions.variations import expand
from questline.rules.criteria import resolve
from questline.rules.evaluate import evaluate

SEED_NAMES = {
    "First Call", "First Data Usage", "App Installation", "Auto-Renew Setup", "Profile Completion",
    "Daily Usage Streak", "Weekly Activity Goal", "Feature Adoption", "Content Consumption", "Social Sharing",
    "Referral Mission", "Recharge Threshold", "Bundle Purchase", "Upsell Mission", "Roaming Usage", "Premium Upgrade",
    "Active Days", "On-Time Payment", "No Inactivity", "Anniversary Mission", "Low Usage Recovery",
    "Churn Risk Intervention", "QoE Compensation", "Reactivation Mission",
}  # fmt: skip
DEMO_PRODUCTS = (
    "NIGHT_DATA_UNL_1D", "SOCIAL_UNL_7D", "DATA_1GB_7D", "INTL_100MIN_30D", "DATA_5GB_30D", "DATA_20GB_30D",
    "ROAM_DAY_PASS",
)  # fmt: skip
TZ = "Europe/London"
START = dt.datetime(2026, 5, 31, 23, 0, tzinfo=dt.UTC)  # Monday 1 June 2026, 00:00 in London
PRODUCT = "DATA_5GB_30D"


def test_the_catalogue_names_every_seed_template_across_all_categories() -> None:
    templates = builtin()
    assert 25 <= len(templates) <= 30
    assert {t.name for t in templates} >= SEED_NAMES
    assert {t.category for t in templates} == set(CATEGORIES)


def test_the_catalogue_expands_to_250_missions_recording_version_and_parameters() -> None:
    missions = [m for t in builtin() for m in expand(t, DEMO_PRODUCTS)]
    assert len(missions) >= 250
    assert len({m.key for m in missions}) == len(missions)
    streak = [m for m in missions if m.template.key == "daily_usage_streak"]
    assert {m.params["days"] for m in streak} == {3, 5, 7}
    assert all(m.template.version == 1 for m in streak)


def test_descriptions_render_with_units() -> None:
    first_data = next(t for t in builtin() if t.key == "first_data_usage")
    assert render(first_data.description, {"bytes": 50_000_000.0}) == "Use your first 50 MB of mobile data."


# ---- every template, done and not done -----------------------------------------------------------------------------


def at(day: int, hour: int = 12) -> dt.datetime:
    """A time on the mission's day `day` (0 = its first day), in London summer time."""
    return START + dt.timedelta(days=day, hours=hour)


def ev(event_type: str, day: int = 1, value: float | None = None, hour: int = 12, **attributes: Any) -> dict[str, Any]:
    kind = EVENT_TYPES[event_type]
    return {
        "event_type": event_type,
        "event_time": at(day, hour),
        "value": 1.0 if value is None else value,
        "unit": kind.unit.value,
        "source_kind": kind.kind.value,
        **attributes,
    }


def daily(event_type: str, days: range | list[int], **attributes: Any) -> list[dict[str, Any]]:
    return [ev(event_type, day, **attributes) for day in days]


DATA = 50_000_000.0
# template -> (events of a subscriber who does it, events of one who does not)
BEHAVIOUR: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "first_call": ([ev("voice_call", value=60, direction="out")], [ev("voice_call", value=60, direction="in")]),
    "first_data_usage": ([ev("data_session", value=2e7)], [ev("data_session", value=1e6)]),
    "app_installation": ([ev("app_install")], [ev("app_login")]),
    "auto_renew_setup": ([ev("auto_renew_enabled")], [ev("recharge", value=10)]),
    "profile_completion": ([ev("profile_completed")], [ev("app_login")]),
    "getting_started": (
        [ev("app_install", 1), ev("app_login", 2), ev("feature_used", 3, feature="top_up")],
        [ev("feature_used", 1, feature="top_up"), ev("app_login", 2), ev("app_install", 3)],
    ),
    "daily_usage_streak": (
        daily("data_session", range(1, 6), value=DATA),
        daily("data_session", [1, 2, 4, 5, 6, 8, 9, 11], value=DATA),
    ),
    "weekly_activity_goal": (daily("sms", range(0, 5)), [*daily("sms", range(0, 4)), ev("sms", 3, hour=18)]),
    "feature_adoption": (
        [ev("feature_used", d, feature=f) for d, f in enumerate(["balance_check", "top_up", "bundle_shop"])],
        [ev("feature_used", d, feature="balance_check") for d in range(5)],
    ),
    "content_consumption": (daily("content_view", range(5)), daily("content_view", range(4))),
    "social_sharing": (daily("share", range(2), channel="whatsapp"), [ev("share", channel="email")]),
    "referral_mission": ([ev("referral")], [ev("share")]),
    "app_regular": (daily("app_login", range(4)), [ev("app_login", 2, hour=h) for h in range(8, 12)]),
    "recharge_threshold": ([ev("recharge", 1, 6.0), ev("recharge", 3, 5.0)], [ev("recharge", 1, 9.0)]),
    "bundle_purchase": (
        [ev("bundle_purchase", value=10, product=PRODUCT)],
        [ev("bundle_purchase", value=3, product="DATA_1GB_7D")],
    ),
    "upsell_mission": (
        [ev("bundle_purchase", value=10, product=PRODUCT)],
        [ev("bundle_purchase", value=20, product="DATA_20GB_30D")],
    ),
    "roaming_usage": (
        [ev("data_session", value=1.5e8, roaming=True)],
        [ev("data_session", value=2e8, roaming=False)],
    ),
    "premium_upgrade": ([ev("plan_changed", plan="PAYM_5G_MAX")], [ev("complaint", reason="billing")]),
    "digital_top_up": ([ev("recharge", value=10, channel="APP")], [ev("recharge", value=10, channel="RETAIL")]),
    "active_days": (daily("data_session", range(0, 29, 1), value=DATA), daily("data_session", range(0, 29, 2))),
    "on_time_payment": ([ev("bill_payment", value=30, on_time=True)], [ev("bill_payment", value=30, on_time=False)]),
    "no_inactivity": (daily("sms", range(14)), daily("sms", [d for d in range(14) if d != 6])),
    "anniversary_mission": ([ev("app_login")], [ev("complaint")]),
    "loyal_caller": (
        [ev("voice_call", value=1000, on_net=True), ev("voice_call", 2, value=900, on_net=True)],
        [ev("voice_call", value=2000, on_net=False)],
    ),
    "low_usage_recovery": ([ev("data_session", value=1.2e8)], [ev("data_session", value=5e7)]),
    "churn_risk_intervention": ([ev("recharge", value=5)], [ev("app_login")]),
    "qoe_compensation": ([ev("data_session", value=DATA)], [ev("complaint")]),
    "reactivation_mission": (
        daily("voice_call", [1, 4, 9], value=30),
        [ev("voice_call", 1, value=30, hour=h) for h in (9, 10, 11)],
    ),
    "complaint_free_month": ([ev("app_login", 5)], [ev("app_login", 5), ev("complaint", 12)]),
}


def test_every_template_has_a_behaviour() -> None:
    assert set(BEHAVIOUR) == {t.key for t in builtin()}


def events_of(subscribers: dict[str, list[dict[str, Any]]]) -> pl.DataFrame:
    rows = [
        {"event_id": i, "subscriber_id": who, "source": "test", **event}
        for i, (who, event) in enumerate((who, event) for who, events in subscribers.items() for event in events)
    ]
    return pl.DataFrame(rows, schema_overrides=dict(EVENT_SCHEMA)).select(
        [pl.col(c).cast(t) if c in rows[0] else pl.lit(None, t).alias(c) for c, t in EVENT_SCHEMA.items()]
    )


@pytest.mark.parametrize("template", builtin(), ids=lambda t: t.key)
def test_a_subscriber_who_does_it_completes_and_one_who_does_not_does_not(template: Any) -> None:
    doer, other = BEHAVIOUR[template.key]
    defaults: dict[str, Any] = {name: p.default for name, p in template.parameters.items()}
    if "product" in defaults:
        defaults["product"] = PRODUCT
    criteria = resolve(template.rules(), defaults)
    days = int(defaults.get(DURATION, template.duration_days))
    missions = pl.DataFrame(
        {
            "assignment_id": [1, 2],
            "subscriber_id": ["doer", "other"],
            "starts_at": [START, START],
            "ends_at": [START + dt.timedelta(days=days)] * 2,
        },
        schema_overrides={"assignment_id": pl.UInt64},
    ).with_columns(pl.col("starts_at", "ends_at").dt.cast_time_unit("us"))
    as_of = START + dt.timedelta(days=days)
    result = evaluate(criteria, events_of({"doer": doer, "other": other}), missions, as_of=as_of, timezone=TZ)
    completed = dict(zip(result.get_column("assignment_id"), result.get_column("completed"), strict=True))
    assert completed == {1: True, 2: False}


def test_no_two_templates_share_a_key_or_a_name() -> None:
    templates = builtin()
    for attribute in ("key", "name"):
        values = [getattr(t, attribute) for t in templates]
        assert len(set(values)) == len(values)
