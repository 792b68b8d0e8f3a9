"""A scoring run: daily aggregates → features → churn probability → five scores → segments → lifetime value and next
best offers. Each run keeps a dated snapshot in the lake, the current values in the database, the segment sizes, and
a `score.changed` event in the outbox for every subscriber whose score crossed into another band."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import delete, func, insert, select

from questline.events.outbox import emit
from questline.kit.errors import Invalid
from questline.ml import external, ltv, nbo, registry
from questline.models import MlModel, SegmentSize, SubscriberScore
from questline.runtime import Runtime
from questline.scoring import regions
from questline.scoring.churn import CHURN, churn_probability
from questline.scoring.config import SCORE_NAMES, ScoreConfig, SegmentConfig, load_scores, load_segments
from questline.scoring.daily import latest_day, refresh_daily, scan_daily
from questline.scoring.features import features
from questline.scoring.scores import band_changes, score
from questline.scoring.segments import assign, sizes

SNAPSHOTS = "scores"  # lake table of dated snapshots, partitioned by `as_of`
OFFERS = "offers"  # lake table of next best offers, partitioned by `as_of`
PARTITION = "as_of"
LTV = "lifetime_value"
PROFILE = ("tenure_days", "days_observed", "recency_days", "plan", "home_cell")  # features kept beside the scores
CHANGED = "score.changed"


@dataclass(frozen=True)
class ScoringRun:
    as_of: dt.date
    subscribers: int
    days_rebuilt: int
    churn_model: str | None
    segments: list[dict[str, Any]]
    band_changes: int
    ltv_model: str | None = None
    nbo_model: str | None = None
    without_region: int = 0  # subscribers whose home cell is unknown or not in the operator's region map

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "subscribers": self.subscribers,
            "days_rebuilt": self.days_rebuilt,
            "churn_model": self.churn_model,
            "ltv_model": self.ltv_model,
            "nbo_model": self.nbo_model,
            "segments": self.segments,
            "score_changed_events": self.band_changes,
            "without_region": self.without_region,
        }


@dataclass(frozen=True)
class ScoredDay:
    """Every subscriber as of a day: `frame` (profile columns, the five scores, churn probability, lifetime value,
    segment), the `features` it came from, and which model versions took part (None: computed without one)."""

    frame: pl.DataFrame
    features: pl.DataFrame
    churn_model: str | None
    ltv_model: str | None


def run_scoring(
    rt: Runtime,
    as_of: dt.date | None = None,
    *,
    scores_config: ScoreConfig | None = None,
    segments_config: SegmentConfig | None = None,
) -> ScoringRun:
    """Score every subscriber as of a local date (default: the latest day in the lake)."""
    refreshed = refresh_daily(rt.lake, rt.events)
    daily = scan_daily(rt.lake)
    as_of = as_of or latest_day(daily)
    scores_config = scores_config or load_scores()
    segments_config = segments_config or load_segments()
    day = score_day(rt, daily, as_of, scores_config=scores_config, segments_config=segments_config)
    frame = day.frame

    changes = band_changes(_previous(rt, as_of), frame, scores_config)
    rt.lake.replace_partition(SNAPSHOTS, PARTITION, as_of, frame)
    offers, nbo_model = _offers(rt, frame, as_of)
    rt.lake.replace_partition(OFFERS, PARTITION, as_of, offers)
    segment_sizes = sizes(frame.select("subscriber_id", "segment"), segments_config)
    with rt.db.session() as session:
        _store_current(session, frame, as_of)
        session.execute(delete(SegmentSize).where(SegmentSize.as_of == as_of))
        session.execute(
            insert(SegmentSize),
            [{"as_of": as_of, "segment": r["segment"], "size": r["subscribers"]} for r in segment_sizes.to_dicts()],
        )
        emitted = _emit_changes(session, changes, as_of)
    return ScoringRun(
        as_of,
        frame.height,
        len(refreshed.rebuilt),
        day.churn_model,
        segment_sizes.to_dicts(),
        emitted,
        ltv_model=day.ltv_model,
        nbo_model=nbo_model,
        without_region=frame["region"].null_count(),
    )


def score_day(
    rt: Runtime,
    daily: pl.LazyFrame,
    as_of: dt.date,
    *,
    scores_config: ScoreConfig | None = None,
    segments_config: SegmentConfig | None = None,
) -> ScoredDay:
    """Features, scores, churn probability, lifetime value and segment of every subscriber as of `as_of`, with the
    active model versions, storing nothing: a scoring run stores them, `ml train nbo|ltv` read them at a cut-off."""
    scores_config = scores_config or load_scores()
    segments_config = segments_config or load_segments()
    table = features(daily, as_of)
    churn, churn_model = _churn(rt, table)
    if churn_model:  # score() joins the probabilities in once, for Risk; keep them beside the scores
        column = scores_config.risk_model.column
        frame = score(table, scores_config, churn=churn.rename({CHURN: column}), keep=(*PROFILE, column))
        frame = frame.rename({column: CHURN})
    else:
        frame = _without_churn(score(table, scores_config, keep=PROFILE))
    value, ltv_model = _lifetime_value(rt, table, frame)
    frame = frame.join(value, on="subscriber_id", how="left")
    with rt.db.session() as session:
        frame = regions.with_region(frame, regions.stored(session))
    frame = frame.join(assign(frame, segments_config), on="subscriber_id")
    return ScoredDay(frame, table, churn_model, ltv_model)


def _churn(rt: Runtime, table: pl.DataFrame) -> tuple[pl.DataFrame, str | None]:
    """Churn probabilities from the active churn model (imported or trained on the lake), or none."""
    model = registry.active(rt, "churn")
    empty = pl.DataFrame(schema={"subscriber_id": pl.String, CHURN: pl.Float64})
    if model is None:
        return empty, None
    if model.origin == "external":
        scores = external.scores_of(rt, model)
    elif model.params.get("trained_on") == "lake":
        from questline.ml.churn import predict_churn

        scores = predict_churn(rt, model, table).rename({CHURN: "score"})
    else:  # a model trained on an operator's own table scores that table's columns, not the lake's features
        return empty, None
    probabilities = scores.select("subscriber_id", pl.col("score").cast(pl.Float64).alias(CHURN))
    return probabilities, _label(model)


def _label(model: MlModel) -> str:
    return f"{model.name} ({model.kind} v{model.version})"


def _without_churn(scored: pl.DataFrame) -> pl.DataFrame:
    return scored.with_columns(pl.lit(None, pl.Float64).alias(CHURN))


def _lifetime_value(rt: Runtime, table: pl.DataFrame, frame: pl.DataFrame) -> tuple[pl.DataFrame, str | None]:
    """subscriber_id and lifetime_value: an active imported version's values (null for subscribers it lacks), or
    the formula with the active version's configuration, or with `ml/ltv.yaml`'s when no version is active."""
    model = registry.active(rt, "ltv")
    if model is not None and model.origin == "external":
        values = external.scores_of(rt, model).select("subscriber_id", pl.col("score").cast(pl.Float64))
        return values.rename({"score": LTV}), _label(model)
    settings = ltv_settings(rt, model) if model is not None else ltv.load_config()
    # the last 30 days' revenue is the monthly run rate: the lake's history may be shorter than any calendar window
    monthly = table.select("subscriber_id", pl.col("revenue_30d").alias("monthly_revenue"))
    value = ltv.value_over_horizon(
        monthly,
        frame.select("subscriber_id", churn_probability(rt.settings.base_churn, settings.churn_months)),
        horizon=settings.horizon_months,
        churn_months=settings.churn_months,
        discount=settings.monthly_discount,
    )
    return value.select("subscriber_id", pl.col("ltv").alias(LTV)), None if model is None else _label(model)


def ltv_settings(rt: Runtime, model: MlModel) -> ltv.LtvConfig:
    """The configuration a built-in lifetime value version holds."""
    settings = registry.load(rt, model)
    if not isinstance(settings, ltv.LtvConfig):
        raise Invalid(f"ltv version {model.version} holds no lifetime value configuration", field="version")
    return settings


def _offers(rt: Runtime, frame: pl.DataFrame, as_of: dt.date) -> tuple[pl.DataFrame, str | None]:
    """Next best offers from what subscribers hold by the end of `as_of`: ranked by the active built-in version, or
    learned now from those purchases (`ml/nbo.yaml`) when none is active. Imported nbo scores carry no product, so
    they cannot rank offers: with such a version active, offers are learned now too."""
    purchases = nbo.lake_purchases(rt, end=as_of)
    segments = frame.select("subscriber_id", "segment")
    model = registry.active(rt, "nbo")
    if model is None or model.origin == "external":
        settings = nbo.load_config()
        offers = nbo.recommend(
            purchases, segments, top=settings.offers, prior=settings.prior, affinity_weight=settings.affinity_weight
        )
        return offers, None
    fitted = registry.load(rt, model)
    if not isinstance(fitted, nbo.NboModel):
        raise Invalid(f"nbo version {model.version} holds no next best offer model", field="version")
    return fitted.recommend(nbo.holdings(purchases), segments), _label(model)


def _previous(rt: Runtime, as_of: dt.date) -> pl.DataFrame:
    """The latest snapshot before this run, for band changes (empty on the first run)."""
    snapshots = rt.lake.scan(SNAPSHOTS)
    columns = ["subscriber_id", *SCORE_NAMES]
    if snapshots is None:
        return pl.DataFrame(schema={c: pl.String if c == "subscriber_id" else pl.Float64 for c in columns})
    dated = snapshots.with_columns(pl.col(PARTITION).cast(pl.Date)).filter(pl.col(PARTITION) < as_of)
    latest = dated.select(pl.col(PARTITION).max()).collect().item()
    if latest is None:
        return pl.DataFrame(schema={c: pl.String if c == "subscriber_id" else pl.Float64 for c in columns})
    return dated.filter(pl.col(PARTITION) == latest).select(columns).collect()


def snapshot(rt: Runtime, table: str = SNAPSHOTS, as_of: dt.date | None = None) -> pl.LazyFrame:
    """One dated snapshot (default: the latest) of the scores or of the offers."""
    frame = rt.lake.scan(table)
    if frame is None:
        raise Invalid("no scoring run yet: run `questline score`", field="as_of")
    frame = frame.with_columns(pl.col(PARTITION).cast(pl.Date))
    day = as_of or frame.select(pl.col(PARTITION).max()).collect().item()
    return frame.filter(pl.col(PARTITION) == day)


def _store_current(session: Any, frame: pl.DataFrame, as_of: dt.date) -> None:
    """Replace the current scores, unless a later run already stands there."""
    latest = session.scalar(select(func.max(SubscriberScore.as_of)))
    if latest is not None and latest > as_of:
        return
    rows = frame.select(
        "subscriber_id",
        pl.lit(as_of).alias("as_of"),
        *SCORE_NAMES,
        CHURN,
        "lifetime_value",
        "segment",
        "explanation",
    ).to_dicts()
    session.execute(delete(SubscriberScore))
    for start in range(0, len(rows), 50_000):
        session.execute(insert(SubscriberScore), rows[start : start + 50_000])


def _emit_changes(session: Any, changes: pl.DataFrame, as_of: dt.date) -> int:
    """One `score.changed` event per band crossing; the key makes a re-run of the same day emit nothing new."""
    if changes.is_empty():
        return 0
    time = dt.datetime.combine(as_of, dt.time(), tzinfo=dt.UTC)
    keyed = changes.with_columns(
        pl.format("{}:{}:{}:{}", pl.lit(CHANGED), "subscriber_id", "score", pl.lit(as_of.isoformat())).alias("key")
    )
    rows = [
        {
            "key": row["key"],
            "type": CHANGED,
            "subject": row["subscriber_id"],
            "time": time,
            "data": {"score": row["score"], "from": row["from_band"], "to": row["to_band"], "as_of": as_of.isoformat()},
        }
        for row in keyed.to_dicts()
    ]
    return emit(session, rows)
