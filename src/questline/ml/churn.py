"""Churn on the lake: labels from the daily table as `churn.yaml` defines them, features from `scoring.features` at a
series of observation dates, a time-based holdout (the latest date whose label horizon is fully observed), and the
fitted model registered as a new churn version with its holdout metrics."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import polars as pl
import yaml
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from questline.kit.errors import ConfigError, Invalid, NotFound
from questline.ml import registry
from questline.ml.metrics import evaluate
from questline.ml.tabular import THREADS, boosting
from questline.models import MlModel
from questline.runtime import Runtime
from questline.scoring.daily import DAILY_METRICS, scan_daily
from questline.scoring.features import features

DEFAULT_CONFIG = Path(__file__).parent / "churn.yaml"
ID = "subscriber_id"
AS_OF = "as_of"
TARGET = "churned"


# ---- configuration -------------------------------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelSpec(_Spec):
    horizon_days: int = Field(default=30, ge=1, le=365)
    billable: list[str] = Field(min_length=1)
    events: list[str] = Field(default_factory=list)
    gone: list[str] = Field(default_factory=list)


class ObservationSpec(_Spec):
    step_days: int = Field(default=7, ge=1)
    max_dates: int = Field(default=8, ge=1)
    min_history_days: int = Field(default=21, ge=1)
    purge: bool = False


class ModelSpec(_Spec):
    algorithm: Literal["gradient_boosting", "logistic"] = "gradient_boosting"
    calibration: Literal["none", "sigmoid", "isotonic"] = "none"
    categorical: list[str] = Field(default_factory=lambda: ["plan"])
    exclude: list[str] = Field(default_factory=list)
    seed: int = 0


class ChurnConfig(_Spec):
    label: LabelSpec
    observations: ObservationSpec = ObservationSpec()
    model: ModelSpec = ModelSpec()


def load_config(source: Path | str | dict[str, Any] | None = None) -> ChurnConfig:
    """The churn document from a file, YAML text or a mapping; the shipped `churn.yaml` when None."""
    try:
        data = source if isinstance(source, dict) else yaml.safe_load(_text(source or DEFAULT_CONFIG))
        config = ChurnConfig.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the churn configuration: {exc}".splitlines()[0], field="file") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(error["msg"], field=".".join(str(p) for p in error["loc"]) or "document") from None
    unknown = sorted({*config.label.billable, *config.label.events, *config.label.gone} - DAILY_METRICS.keys())
    if unknown:
        raise ConfigError(f"not daily metrics: {', '.join(unknown)}", field="label")
    return config


def _text(source: Path | str) -> str:
    return source.read_text(encoding="utf-8") if isinstance(source, Path) else source


# ---- labels and training set ---------------------------------------------------------------------------------------


def _any_positive(columns: list[str]) -> pl.Expr:
    if not columns:
        return pl.lit(False)
    return pl.any_horizontal(*(pl.col(c) > 0 for c in columns))


def labels(daily: pl.LazyFrame, dates: list[dt.date], spec: LabelSpec) -> pl.DataFrame:
    """Per (subscriber, observation date) with any billable, churn or gone day: `churned` and `gone` (already left
    at d). Subscribers absent here had none of these days at all: churned, not gone."""
    flags = daily.select(
        ID,
        "date",
        _any_positive(spec.billable).alias("_billable"),
        _any_positive(spec.events).alias("_event"),
        _any_positive(spec.gone).alias("_gone"),
    ).filter(pl.col("_billable") | pl.col("_event") | pl.col("_gone"))
    horizon = dt.timedelta(days=spec.horizon_days)
    per_date = []
    for d in dates:  # one pass per date: a cross join with the dates would multiply the daily table
        after = (pl.col("date") > d) & (pl.col("date") <= d + horizon)
        per_date.append(
            flags.group_by(ID)
            .agg(
                (pl.col("_billable") & after).any().alias("_active_after"),
                (pl.col("_event") & after).any().alias("_event_after"),
                (pl.col("_gone") & (pl.col("date") <= d)).any().alias("gone"),
            )
            .with_columns(pl.lit(d).alias(AS_OF))
        )
    found = pl.concat(pl.collect_all(per_date))
    churned = ~pl.col("_active_after") | pl.col("_event_after")
    return found.select(ID, AS_OF, churned.alias(TARGET), "gone")


def training_set(daily: pl.LazyFrame, dates: list[dt.date], spec: LabelSpec) -> pl.DataFrame:
    """Features at each date, with `as_of` and the label; subscribers already gone at their date are left out."""
    frames = [features(daily, d).with_columns(pl.lit(d).alias(AS_OF)) for d in dates]
    observed = pl.concat(frames, how="vertical_relaxed")
    joined = observed.join(labels(daily, dates, spec), on=[ID, AS_OF], how="left")
    joined = joined.with_columns(pl.col(TARGET).fill_null(True), pl.col("gone").fill_null(False))
    return joined.filter(~pl.col("gone")).drop("gone").with_columns(pl.col(TARGET).cast(pl.Int8))


@dataclass(frozen=True)
class Split:
    train: list[dt.date]
    holdout: dt.date


def split_dates(first: dt.date, last: dt.date, config: ChurnConfig) -> Split:
    """The holdout is the latest date whose horizon ends by `last`; training dates step back from it."""
    obs, horizon = config.observations, config.label.horizon_days
    holdout = last - dt.timedelta(days=horizon)
    earliest = first + dt.timedelta(days=obs.min_history_days - 1)
    newest = holdout - dt.timedelta(days=horizon if obs.purge else obs.step_days)
    train: list[dt.date] = []
    d = newest
    while d >= earliest and len(train) < obs.max_dates:
        train.append(d)
        d -= dt.timedelta(days=obs.step_days)
    if holdout < earliest or not train:
        need = obs.min_history_days + horizon * (2 if obs.purge else 1) + (0 if obs.purge else obs.step_days)
        raise Invalid(
            f"daily history {first} to {last} is too short for a churn holdout: about {need} days needed", field="as_of"
        )
    return Split(sorted(train), holdout)


# ---- model ---------------------------------------------------------------------------------------------------------


@dataclass
class ChurnModel:
    """The fitted classifier with the feature columns it reads: give it a feature frame, get churn probabilities."""

    estimator: Any  # a Pipeline, or a CalibratedClassifierCV around one
    numeric: list[str]
    categorical: list[str]
    algorithm: str

    @property
    def features(self) -> list[str]:
        return self.numeric + self.categorical

    def inputs(self, frame: pl.DataFrame) -> pl.DataFrame:
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise Invalid(f"the feature frame lacks {', '.join(missing)}", field="features")
        return frame.select(
            *(pl.col(c).cast(pl.Float64) for c in self.numeric),
            *(pl.col(c).cast(pl.String).fill_null("(missing)") for c in self.categorical),
        )

    def predict(self, frame: pl.DataFrame) -> NDArray[np.float64]:
        with threadpool_limits(THREADS, user_api="openmp"):
            probabilities = self.estimator.predict_proba(self.inputs(frame))
        return np.asarray(probabilities[:, 1], dtype=float)


def _columns(frame: pl.DataFrame, spec: ModelSpec) -> tuple[list[str], list[str]]:
    skip = {ID, AS_OF, TARGET, *spec.exclude}
    categorical = [c for c in spec.categorical if c in frame.columns and c not in skip]
    numeric = [c for c, t in frame.schema.items() if c not in skip and c not in categorical and t.is_numeric()]
    return numeric, categorical


def _estimator(numeric: list[str], categorical: list[str], spec: ModelSpec) -> Any:
    impute = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
    scaled = make_pipeline(impute, StandardScaler()) if spec.algorithm == "logistic" else impute
    prepare = ColumnTransformer(
        [
            ("numeric", scaled, numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ]
    )
    model: Any = LogisticRegression(C=1.0, max_iter=3000) if spec.algorithm == "logistic" else boosting(spec.seed)
    pipeline = Pipeline([("prepare", prepare), ("model", model)])
    if spec.calibration == "none":
        return pipeline
    return CalibratedClassifierCV(pipeline, method=spec.calibration, cv=3)


class ChurnTraining(NamedTuple):
    model: ChurnModel
    metrics: dict[str, Any]
    window: tuple[dt.date, dt.date]
    features: list[str]
    version: int


def latest_date(rt: Runtime) -> dt.date:
    """The last date of the daily table, taken as complete (pass `as_of` when today's partition is still filling)."""
    last = scan_daily(rt.lake).select(pl.col("date").max()).collect().item()
    if last is None:
        raise NotFound("the daily table is empty: ingest events and refresh it first", field="daily")
    assert isinstance(last, dt.date)
    return last


def train_churn(rt: Runtime, *, as_of: dt.date | None = None, config: ChurnConfig | None = None) -> ChurnTraining:
    """Fit on the training dates, measure on the holdout date, register the model as a new (inactive) version."""
    config = config or load_config()
    last = as_of or latest_date(rt)
    daily = scan_daily(rt.lake).filter(pl.col("date") <= last)
    # History starts at the first active day: activations years back (from CRM snapshots) are not history.
    first = daily.filter(pl.col("active")).select(pl.col("date").min()).collect().item()
    if first is None:
        raise NotFound(f"no active day on or before {last}", field="as_of")
    split = split_dates(first, last, config)
    data = training_set(daily, [*split.train, split.holdout], config.label)
    train, holdout = data.filter(pl.col(AS_OF) != split.holdout), data.filter(pl.col(AS_OF) == split.holdout)
    y_train, y_holdout = train[TARGET].to_numpy(), holdout[TARGET].to_numpy()
    if len(np.unique(y_train)) < 2 or len(np.unique(y_holdout)) < 2:
        raise Invalid("the training or holdout dates hold only one class: no churn to learn", field="label")
    numeric, categorical = _columns(data, config.model)
    model = ChurnModel(_estimator(numeric, categorical, config.model), numeric, categorical, config.model.algorithm)
    with threadpool_limits(THREADS, user_api="openmp"):
        model.estimator.fit(model.inputs(train), y_train)
    horizon = dt.timedelta(days=config.label.horizon_days)
    window = (split.train[0], split.train[-1] + horizon)  # first observation date, last day a training label read
    metrics: dict[str, Any] = {
        **evaluate(y_holdout, model.predict(holdout)),  # its `calibration` is the holdout's reliability table
        "algorithm": config.model.algorithm,
        "calibration_method": config.model.calibration,
        "holdout_date": split.holdout.isoformat(),
        "train_dates": [d.isoformat() for d in split.train],
        "train_rows": len(y_train),
        "train_base_rate": float(y_train.mean()),
        "horizon_days": config.label.horizon_days,
        "as_of": last.isoformat(),
    }
    params = {"trained_on": "lake", "config": config.model_dump()}
    name = f"{config.model.algorithm} on the lake to {last.isoformat()}"
    row = registry.save_model(
        rt, model, kind="churn", name=name, metrics=metrics, features=model.features, params=params, window=window
    )
    return ChurnTraining(model, metrics, window, model.features, row.version)


def predict_churn(rt: Runtime, model: ChurnModel | MlModel | None, frame: pl.DataFrame) -> pl.DataFrame:
    """subscriber_id and churn_probability for a feature frame, with a fitted model, a registry version, or the
    active churn version when None."""
    if model is None:
        model = registry.active(rt, "churn")
        if model is None:
            raise NotFound("no active churn model", field="churn")
    fitted = registry.load(rt, model) if isinstance(model, MlModel) else model
    if not isinstance(fitted, ChurnModel):
        raise Invalid("this churn version was not trained on the lake: it reads other columns", field="version")
    probabilities = pl.Series("churn_probability", fitted.predict(frame))
    return pl.DataFrame([frame[ID], probabilities])
