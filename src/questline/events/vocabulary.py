"""The closed vocabulary of event types: what each means, its metric and the unit its `value` is in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SourceKind(StrEnum):
    CDR = "cdr"
    BILLING = "billing"
    APP = "app"
    CRM = "crm"
    NETWORK = "network"


class Unit(StrEnum):
    SECONDS = "seconds"
    BYTES = "bytes"
    COUNT = "count"
    CURRENCY = "currency"  # amount in the currency's major units; the `currency` attribute names it
    SCORE = "score"


@dataclass(frozen=True)
class EventType:
    name: str
    kind: SourceKind
    metric: str
    unit: Unit
    meaning: str


def _types(kind: SourceKind, *rows: tuple[str, str, Unit, str]) -> list[EventType]:
    return [EventType(name, kind, metric, unit, meaning) for name, metric, unit, meaning in rows]


C, B, A, R, N = SourceKind.CDR, SourceKind.BILLING, SourceKind.APP, SourceKind.CRM, SourceKind.NETWORK
S, BY, N1, CU, SC = Unit.SECONDS, Unit.BYTES, Unit.COUNT, Unit.CURRENCY, Unit.SCORE

EVENT_TYPES: dict[str, EventType] = {
    t.name: t
    for t in [
        *_types(
            C,
            ("voice_call", "call duration", S, "a voice call (direction, on_net, roaming, country, cell)"),
            ("sms", "messages", N1, "an SMS sent or received"),
            (
                "data_session",
                "data volume",
                BY,
                "a data session or a partial record of one (uplink + downlink)",
            ),
        ),
        *_types(
            B,
            ("recharge", "top-up amount", CU, "a prepaid top-up (channel, currency)"),
            ("bundle_purchase", "price", CU, "a bundle or add-on bought (product)"),
            ("bill_payment", "amount paid", CU, "a postpaid bill paid (on_time)"),
            ("auto_renew_enabled", "activations", N1, "automatic renewal or auto top-up switched on"),
        ),
        *_types(
            A,
            ("app_install", "installs", N1, "the self-care app installed (device)"),
            ("app_login", "logins", N1, "a login to the self-care app"),
            ("feature_used", "uses", N1, "an app feature used (feature)"),
            ("content_view", "views", N1, "content viewed in the app"),
            ("share", "shares", N1, "something shared from the app"),
            ("referral", "referrals", N1, "a friend referred"),
            ("profile_completed", "completions", N1, "the subscriber completed their profile"),
        ),
        *_types(
            R,
            ("subscriber_activated", "activations", N1, "a line activated (plan)"),
            ("plan_changed", "changes", N1, "tariff plan changed (plan)"),
            ("complaint", "complaints", N1, "a complaint or trouble ticket (reason)"),
            ("port_out_request", "requests", N1, "a request to port the number out"),
            ("deactivated", "deactivations", N1, "the line deactivated (reason)"),
        ),
        *_types(
            N,
            ("dropped_call", "drops", N1, "a call dropped by the network (cell)"),
            ("poor_throughput", "degraded time", S, "a session with throughput under the quality threshold"),
            ("outage_affected", "outage time", S, "the subscriber was in an outage's area (cell)"),
            ("qoe_measurement", "quality score", SC, "a quality-of-experience measurement, MOS 1-5"),
        ),
    ]
}

EVENT_TYPE_NAMES: tuple[str, ...] = tuple(EVENT_TYPES)
SOURCE_KINDS: tuple[str, ...] = tuple(k.value for k in SourceKind)

# Input unit -> (canonical unit, factor). A mapping names the unit its input is in; values are converted on the way in.
UNIT_CONVERSIONS: dict[str, tuple[Unit, float]] = {
    "s": (S, 1.0),
    "seconds": (S, 1.0),
    "ms": (S, 0.001),
    "min": (S, 60.0),
    "minutes": (S, 60.0),
    "h": (S, 3600.0),
    "hours": (S, 3600.0),
    "B": (BY, 1.0),
    "bytes": (BY, 1.0),
    "kB": (BY, 1e3),
    "KB": (BY, 1e3),
    "KiB": (BY, 1024.0),
    "MB": (BY, 1e6),
    "MiB": (BY, 1024.0**2),
    "GB": (BY, 1e9),
    "GiB": (BY, 1024.0**3),
    "count": (N1, 1.0),
    "currency": (CU, 1.0),
    "units": (CU, 1.0),
    "cents": (CU, 0.01),
    "minor": (CU, 0.01),
    "millis": (CU, 0.001),
    "score": (SC, 1.0),
}


def unit_of(event_type: str) -> Unit:
    return EVENT_TYPES[event_type].unit
