"""Personas: fixed shares of the base, each with the daily rates that drive every feed.

Rates are per subscriber per active day unless named otherwise; each subscriber also draws a personal volume
multiplier, so that a persona is a distribution rather than a clone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Persona:
    name: str
    share: float
    summary: str
    prepaid: float  # share on a prepaid plan (top-ups) rather than postpaid (bills)
    app_user: float  # share with the self-care app (voice-centric users mostly have feature phones)
    calls_out: float
    calls_in: float
    call_seconds: float  # mean call length
    sms_out: float
    sms_in: float
    data_sessions: float
    session_mb: float  # mean volume of one data session
    logins: float  # app logins per day, for app users
    features_per_login: float
    views_per_login: float
    shares: float
    referrals: float
    recharges: float  # top-ups per day, prepaid only
    recharge_amounts: tuple[float, ...]
    bundles: float
    complaints: float
    plan_changes: float
    auto_renew: float  # chance of switching auto-renew on during the period
    late_payer: float  # chance a postpaid bill is paid late
    trip: float  # chance of a trip abroad during the period
    mos: float  # mean quality-of-experience score the subscriber sees
    poor_throughput: float


AVERAGE = Persona(
    "average", 0.30, "ordinary usage across voice, SMS and data; occasional app use",
    prepaid=0.55, app_user=0.5, calls_out=1.4, calls_in=1.4, call_seconds=150, sms_out=0.9, sms_in=1.1,
    data_sessions=2.0, session_mb=60, logins=0.25, features_per_login=1.2, views_per_login=0.8, shares=0.005,
    referrals=0.001, recharges=0.12, recharge_amounts=(10, 15, 20), bundles=0.03, complaints=0.002,
    plan_changes=0.002, auto_renew=0.05, late_payer=0.08, trip=0.03, mos=3.9, poor_throughput=0.03,
)  # fmt: skip
HEAVY_DATA = Persona(
    "heavy_data", 0.12, "many large data sessions, light voice",
    prepaid=0.2, app_user=0.8, calls_out=0.7, calls_in=0.8, call_seconds=110, sms_out=0.4, sms_in=0.8,
    data_sessions=6.0, session_mb=320, logins=0.5, features_per_login=1.5, views_per_login=1.2, shares=0.02,
    referrals=0.002, recharges=0.15, recharge_amounts=(20, 30), bundles=0.08, complaints=0.003,
    plan_changes=0.003, auto_renew=0.12, late_payer=0.06, trip=0.03, mos=3.8, poor_throughput=0.12,
)  # fmt: skip
VOICE_CENTRIC = Persona(
    "voice_centric", 0.12, "many long calls and SMS, almost no data, rarely the app",
    prepaid=0.5, app_user=0.1, calls_out=4.5, calls_in=4.0, call_seconds=260, sms_out=2.0, sms_in=2.0,
    data_sessions=0.3, session_mb=8, logins=0.1, features_per_login=1.0, views_per_login=0.3, shares=0.0,
    referrals=0.0, recharges=0.1, recharge_amounts=(10, 20), bundles=0.02, complaints=0.002,
    plan_changes=0.001, auto_renew=0.03, late_payer=0.05, trip=0.02, mos=4.0, poor_throughput=0.005,
)  # fmt: skip
NEW_JOINER = Persona(
    "new_joiner", 0.08, "activated during the period: installs the app, first top-up, then average usage",
    prepaid=0.6, app_user=0.75, calls_out=1.3, calls_in=1.0, call_seconds=130, sms_out=0.8, sms_in=1.0,
    data_sessions=2.5, session_mb=70, logins=0.6, features_per_login=1.8, views_per_login=1.5, shares=0.01,
    referrals=0.003, recharges=0.12, recharge_amounts=(10, 15, 20), bundles=0.05, complaints=0.004,
    plan_changes=0.004, auto_renew=0.15, late_payer=0.05, trip=0.01, mos=3.9, poor_throughput=0.03,
)  # fmt: skip
ROAMER = Persona(
    "roamer", 0.06, "travels abroad during the period: roaming calls and data, roaming bundles",
    prepaid=0.3, app_user=0.6, calls_out=1.5, calls_in=1.5, call_seconds=140, sms_out=1.0, sms_in=1.2,
    data_sessions=2.5, session_mb=80, logins=0.3, features_per_login=1.3, views_per_login=0.8, shares=0.01,
    referrals=0.001, recharges=0.12, recharge_amounts=(15, 20, 30), bundles=0.03, complaints=0.003,
    plan_changes=0.002, auto_renew=0.08, late_payer=0.06, trip=1.0, mos=3.8, poor_throughput=0.04,
)  # fmt: skip
DIGITAL_NATIVE = Persona(
    "digital_native", 0.12, "lives in the self-care app: logins, features, content, shares, referrals",
    prepaid=0.4, app_user=1.0, calls_out=0.4, calls_in=0.5, call_seconds=70, sms_out=0.3, sms_in=0.5,
    data_sessions=4.0, session_mb=150, logins=1.5, features_per_login=1.6, views_per_login=1.3, shares=0.15,
    referrals=0.02, recharges=0.12, recharge_amounts=(10, 20), bundles=0.06, complaints=0.002,
    plan_changes=0.004, auto_renew=0.25, late_payer=0.04, trip=0.04, mos=3.9, poor_throughput=0.05,
)  # fmt: skip
DECLINING = Persona(
    "declining", 0.08, "activity decays, poor network experience, complaints; many port out or leave",
    prepaid=0.5, app_user=0.4, calls_out=1.5, calls_in=1.4, call_seconds=140, sms_out=1.0, sms_in=1.1,
    data_sessions=2.0, session_mb=55, logins=0.2, features_per_login=1.0, views_per_login=0.5, shares=0.0,
    referrals=0.0, recharges=0.1, recharge_amounts=(10, 15), bundles=0.02, complaints=0.06,
    plan_changes=0.008, auto_renew=0.0, late_payer=0.45, trip=0.01, mos=2.9, poor_throughput=0.15,
)  # fmt: skip
BARGAIN_HUNTER = Persona(
    "bargain_hunter", 0.12, "prepaid; frequent small top-ups and cheap bundles",
    prepaid=0.95, app_user=0.6, calls_out=1.0, calls_in=1.0, call_seconds=110, sms_out=1.5, sms_in=1.5,
    data_sessions=1.5, session_mb=40, logins=0.4, features_per_login=1.3, views_per_login=0.6, shares=0.01,
    referrals=0.004, recharges=0.4, recharge_amounts=(5, 5, 10), bundles=0.18, complaints=0.003,
    plan_changes=0.01, auto_renew=0.3, late_payer=0.1, trip=0.02, mos=3.8, poor_throughput=0.03,
)  # fmt: skip

PERSONAS: tuple[Persona, ...] = (
    AVERAGE, HEAVY_DATA, VOICE_CENTRIC, NEW_JOINER, ROAMER, DIGITAL_NATIVE, DECLINING, BARGAIN_HUNTER,
)  # fmt: skip
PERSONA_NAMES: tuple[str, ...] = tuple(p.name for p in PERSONAS)
NEW_JOINER_INDEX = PERSONA_NAMES.index("new_joiner")
DECLINING_INDEX = PERSONA_NAMES.index("declining")


def persona_counts(subscribers: int) -> np.ndarray:
    """Exact head counts per persona: largest remainders, so the shares hold for any base size."""
    shares = np.array([p.share for p in PERSONAS])
    raw = shares * subscribers
    counts = np.floor(raw).astype(np.int64)
    short = subscribers - int(counts.sum())
    counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts


def column(name: str) -> np.ndarray:
    """One persona parameter as an array indexed by persona number."""
    return np.array([getattr(p, name) for p in PERSONAS], dtype=np.float64)
