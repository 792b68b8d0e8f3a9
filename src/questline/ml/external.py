"""Scores from an operator's own data-science team (CSV or Parquet: subscriber, model, score, as_of). Valid rows are
kept as a Parquet file in the home under a new version of the model kind; every other row is reported with its row
number (1 = the first data row) and reason. Activating that version makes its scores the ones used for the kind."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from questline.kit.errors import Invalid
from questline.ml import registry
from questline.ml.table_schema import read_table
from questline.models import MlModel
from questline.runtime import Runtime

COLUMNS = ("subscriber", "model", "score", "as_of")
SCORES_FILE = "scores.parquet"
DEFAULT_RANGES: dict[str, tuple[float, float]] = {"churn": (0.0, 1.0), "nbo": (0.0, 1.0)}  # probabilities


@dataclass(frozen=True)
class ImportResult:
    model: MlModel
    accepted: int
    rejects: pl.DataFrame  # row, reason

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.model.kind,
            "version": self.model.version,
            "name": self.model.name,
            "accepted": self.accepted,
            "rejected": self.rejects.height,
            "rejects": self.rejects.head(100).to_dicts(),
        }


def validate(
    frame: pl.DataFrame, *, model: str, score_range: tuple[float, float] | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(subscriber_id, score, as_of) of the valid rows, and (row, reason) of the others. A subscriber scored more than
    once keeps its latest as_of; the older rows are reported as superseded."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise Invalid(f"missing columns: {', '.join(missing)} (need {', '.join(COLUMNS)})", field="file")
    text = frame.select([pl.col(c).cast(pl.String).str.strip_chars() for c in COLUMNS])
    typed = text.with_row_index("row", offset=1).with_columns(
        pl.col("score").cast(pl.Float64, strict=False).alias("value"),
        pl.col("as_of").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias("day"),
    )
    typed = typed.with_columns(_reason(model, score_range).alias("reason"))
    typed = _supersede(typed)
    good = typed.filter(pl.col("reason").is_null())
    scores = good.select(
        pl.col("subscriber").alias("subscriber_id"), pl.col("value").alias("score"), pl.col("day").alias("as_of")
    )
    return scores, typed.filter(pl.col("reason").is_not_null()).select("row", "reason")


def _reason(model: str, score_range: tuple[float, float] | None) -> pl.Expr:
    """The first problem of a row, or null."""
    value = pl.col("value")
    low, high = score_range if score_range else (float("-inf"), float("inf"))
    return (
        pl.when(pl.col("subscriber").fill_null("") == "")
        .then(pl.lit("subscriber is missing"))
        .when(pl.col("model").fill_null("") != model)
        .then(pl.lit("model is ") + pl.col("model").fill_null("missing") + pl.lit(f", not {model}"))
        .when(value.is_null() | value.is_nan() | value.is_infinite())
        .then(pl.lit("score is not a number: ") + pl.col("score").fill_null(""))
        .when((value < low) | (value > high))
        .then(pl.lit("score ") + pl.col("score") + pl.lit(f" is outside [{low:g}, {high:g}]"))
        .when(pl.col("day").is_null())
        .then(pl.lit("as_of is not a date (YYYY-MM-DD): ") + pl.col("as_of").fill_null(""))
        .otherwise(None)
    )


def _supersede(typed: pl.DataFrame) -> pl.DataFrame:
    latest = (
        typed.filter(pl.col("reason").is_null())
        .sort("day", "row")
        .group_by("subscriber")
        .agg(pl.col("row").last().alias("kept"))
    )
    typed = typed.join(latest, on="subscriber", how="left")
    superseded = pl.col("reason").is_null() & (pl.col("row") != pl.col("kept"))
    message = pl.lit("superseded by row ") + pl.col("kept").cast(pl.String) + pl.lit(" of the same subscriber")
    return typed.with_columns(pl.when(superseded).then(message).otherwise(pl.col("reason")).alias("reason")).sort("row")


def import_scores(
    rt: Runtime,
    path: Path,
    *,
    model: str,
    kind: str = "churn",
    score_range: tuple[float, float] | None = None,
) -> ImportResult:
    """Validate a score file and store its good rows as a new, inactive external version of `kind`."""
    if score_range is not None and score_range[0] >= score_range[1]:
        raise Invalid(f"empty score range {score_range}", field="score_range")
    bounds = score_range or DEFAULT_RANGES.get(kind)
    scores, rejects = validate(read_table(path, field="file"), model=model, score_range=bounds)
    if scores.is_empty():
        sample = rejects.head(3).to_dicts()
        raise Invalid(f"no valid row in {path.name} ({rejects.height} rejected, first: {sample})", field="file")
    summary = {
        "subscribers": scores.height,
        "rejected": rejects.height,
        "score_mean": scores["score"].mean(),
        "score_range": list(bounds) if bounds else None,
    }
    first, last = scores["as_of"].min(), scores["as_of"].max()
    assert isinstance(first, dt.date) and isinstance(last, dt.date)
    row = registry.register(
        rt,
        kind=kind,
        name=model,
        origin="external",
        filename=SCORES_FILE,
        write=scores.write_parquet,
        metrics=summary,
        params={"file": path.name},
        window=(first, last),
    )
    return ImportResult(row, scores.height, rejects)


def scores_of(rt: Runtime, model: MlModel, features: pl.DataFrame | None = None) -> pl.DataFrame:
    """subscriber_id and score from a model version: an imported version's stored scores, or a built-in model applied
    to `features` (a frame with the columns the model was trained on, and its id column)."""
    if model.origin == "external":
        return pl.read_parquet(registry.artifact_path(rt, model)).select("subscriber_id", "score")
    if features is None:
        raise Invalid(f"{model.kind} version {model.version} is a built-in model: give the features", field="features")
    return registry.load(rt, model).score(features)
