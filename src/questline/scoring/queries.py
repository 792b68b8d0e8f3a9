"""The read side of scoring, shared by the CLI and the API: a subscriber's profile, score distributions, segments."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import select

from questline.kit.errors import NotFound
from questline.models import SegmentSize, SubscriberScore
from questline.runtime import Runtime
from questline.scoring.config import SCORE_NAMES, load_segments
from questline.scoring.service import OFFERS, snapshot

SHOWN = ("tenure_days", "recency_days", "plan", "region")  # what a profile shows of the snapshot's feature columns


def subscriber(rt: Runtime, subscriber_id: str) -> dict[str, Any]:
    """Profile, the five scores with their explanations, segment, churn probability, lifetime value, top offers."""
    with rt.db.session() as session:
        row = session.get(SubscriberScore, subscriber_id)
        if row is None:
            raise NotFound(f"no scores for subscriber {subscriber_id!r}", field="subscriber_id")
        current = {name: getattr(row, name) for name in ("as_of", *SCORE_NAMES, "churn_probability", "segment")}
        current |= {"lifetime_value": row.lifetime_value, "explanation": row.explanation}
    latest = snapshot(rt, as_of=current["as_of"]).filter(pl.col("subscriber_id") == subscriber_id)
    profile = latest.select(*SHOWN).collect().to_dicts()
    offers = snapshot(rt, OFFERS, current["as_of"]).filter(pl.col("subscriber_id") == subscriber_id)
    return {
        "subscriber_id": subscriber_id,
        "as_of": current["as_of"].isoformat(),
        "profile": profile[0] if profile else {},
        "segment": current["segment"],
        "scores": {
            name: {"value": round(current[name], 1), "explanation": current["explanation"].get(name, [])}
            for name in SCORE_NAMES
        },
        "churn_probability": current["churn_probability"],
        "lifetime_value": current["lifetime_value"],
        "offers": offers.sort("rank").select("rank", "product", "propensity").collect().to_dicts(),
    }


def distribution(rt: Runtime, bins: int = 10) -> dict[str, Any]:
    """Per score: count, mean, quartiles and a histogram over equal bins of 0-100, from the latest run."""
    frame = snapshot(rt).select(*SCORE_NAMES, "as_of").collect()
    width = 100 / bins
    result: dict[str, Any] = {"as_of": frame.item(0, "as_of").isoformat() if frame.height else None, "scores": {}}
    for name in SCORE_NAMES:
        column = frame.get_column(name)
        bucket = (column / width).floor().clip(0, bins - 1).cast(pl.Int32)
        counts = bucket.value_counts().sort(bucket.name)
        histogram = dict.fromkeys(range(bins), 0) | dict(counts.iter_rows())
        result["scores"][name] = {
            "subscribers": column.len(),
            "mean": round(_number(column.mean()), 2),
            "quartiles": [round(_number(column.quantile(q)), 2) for q in (0.25, 0.5, 0.75)],
            "histogram": [
                {"from": i * width, "to": (i + 1) * width, "subscribers": n} for i, n in sorted(histogram.items())
            ],
        }
    return result


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def segments(rt: Runtime) -> list[dict[str, Any]]:
    """Every configured segment with its definition and its size at each scoring run, newest first."""
    config = load_segments()
    with rt.db.session() as session:
        rows = session.execute(select(SegmentSize).order_by(SegmentSize.as_of.desc())).scalars().all()
        history: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            history.setdefault(row.segment, []).append({"as_of": row.as_of.isoformat(), "size": row.size})
    defined: list[tuple[str, str, str, dict[str, Any] | None]]
    defined = [(s.name, s.label, s.description, s.when.model_dump(mode="json")) for s in config.segments]
    defined.append((config.fallback.name, config.fallback.label, config.fallback.description or "everyone else", None))
    return [
        {"name": name, "label": label, "description": description, "rule": rule, "sizes": history.get(name, [])}
        for name, label, description, rule in defined
    ]


def segment(rt: Runtime, name: str, sample: int = 20) -> dict[str, Any]:
    """One segment: definition, sizes over time and a sample of its members from the latest run."""
    found = next((s for s in segments(rt) if s["name"] == name), None)
    if found is None:
        raise NotFound(f"no segment named {name!r}", field="name")
    members = snapshot(rt).filter(pl.col("segment") == name).select("subscriber_id", *SCORE_NAMES)
    return found | {"members": members.sort("subscriber_id").head(sample).collect().to_dicts()}
