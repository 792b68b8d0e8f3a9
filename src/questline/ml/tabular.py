"""Churn on an operator's own labelled table: mixed columns in, a scikit-learn pipeline and cross-validated metrics
out. Two candidate models are measured the same way and the better one is kept (see `_choose`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from questline.kit.errors import Invalid
from questline.ml.metrics import evaluate
from questline.ml.table_schema import TableSchema, features_frame, infer_schema, labels, read_table

AUC_TIE = 0.005  # AUC differences below this are noise at CRM-export sizes; calibration decides then
# OpenMP threads gain nothing on tables of this size and, on a busy machine, spin-wait: measured 0.17 s with one
# thread against 23 s with two for the same gradient boosting fit on a 2-core machine under load.
THREADS = 1


@dataclass
class TabularChurnModel:
    """The fitted pipeline with the column rules it was trained under: give it a table, get churn probabilities."""

    schema: TableSchema
    pipeline: Pipeline
    algorithm: str

    def predict(self, frame: pl.DataFrame) -> NDArray[np.float64]:
        with threadpool_limits(THREADS, user_api="openmp"):
            probabilities = self.pipeline.predict_proba(features_frame(frame, self.schema))
        return np.asarray(probabilities[:, 1], dtype=float)

    def score(self, frame: pl.DataFrame) -> pl.DataFrame:
        """subscriber_id (the table's id column) and score, the churn probability."""
        ids = frame[self.schema.id_column].cast(pl.String).alias("subscriber_id")
        return pl.DataFrame([ids, pl.Series("score", self.predict(frame))])


@dataclass
class TrainResult:
    model: TabularChurnModel
    metrics: dict[str, object]
    candidates: dict[str, dict[str, object]]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return self.model.schema.features

    def as_json(self) -> dict[str, object]:
        return {
            **self.metrics,
            "algorithm": self.model.algorithm,
            "candidates": {name: _headline(m) for name, m in self.candidates.items()},
            "features": self.features,
            "excluded": self.model.schema.excluded,
            "params": self.params,
        }


def train_table(path: Path, *, target: str, id_column: str, folds: int = 5, seed: int = 0) -> TrainResult:
    """Train and cross-validate a churn classifier on a labelled CSV or Parquet table."""
    frame = read_table(path)
    schema = infer_schema(frame, target=target, id_column=id_column)
    y_all = labels(frame[target])
    keep = y_all.is_not_null()
    frame, y = frame.filter(keep), y_all.filter(keep).to_numpy().astype(int)
    _check_folds(y, folds)
    x = features_frame(frame, schema)
    with threadpool_limits(THREADS, user_api="openmp"):
        candidates = {name: _cross_validate(make(schema, seed), x, y, folds, seed) for name, make in CANDIDATES.items()}
        chosen = _choose(candidates)
        pipeline = CANDIDATES[chosen](schema, seed).fit(x, y)
    params = {
        "target": target,
        "id_column": id_column,
        "folds": folds,
        "seed": seed,
        "rows": len(y),
        "rows_without_target": int((~keep).sum()),
        "file": path.name,
    }
    model = TabularChurnModel(schema, pipeline, chosen)
    return TrainResult(model, {**candidates[chosen], "algorithm": chosen}, candidates, params)


def _check_folds(y: NDArray[np.int_], folds: int) -> None:
    if folds < 2:
        raise Invalid("at least 2 folds", field="folds")
    smallest = int(min(y.sum(), len(y) - y.sum()))
    if smallest < folds:
        raise Invalid(f"the smaller class has {smallest} rows: fewer than {folds} folds", field="folds")


def _preprocess(schema: TableSchema) -> ColumnTransformer:
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="(missing)"),
        # rare levels pool into one column; levels unseen in training map to it too
        OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, sparse_output=False),
    )
    return ColumnTransformer([("numeric", numeric, schema.numeric), ("categorical", categorical, schema.categorical)])


def _logistic(schema: TableSchema, seed: int) -> Pipeline:
    return Pipeline([("prepare", _preprocess(schema)), ("model", LogisticRegression(C=1.0, max_iter=2000))])


def boosting(seed: int) -> HistGradientBoostingClassifier:
    """The gradient boosting settings every churn model uses: shallow trees, strong leaves, early stopping."""
    return HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=300,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=True,
        n_iter_no_change=20,
        random_state=seed,
    )


def _boosting(schema: TableSchema, seed: int) -> Pipeline:
    return Pipeline([("prepare", _preprocess(schema)), ("model", boosting(seed))])


CANDIDATES = {"logistic": _logistic, "gradient_boosting": _boosting}


def _cross_validate(
    pipeline: Pipeline, x: pl.DataFrame, y: NDArray[np.int_], folds: int, seed: int
) -> dict[str, object]:
    """Metrics over the pooled out-of-fold probabilities, plus the spread of AUC between folds."""
    out_of_fold = np.zeros(len(y))
    fold_auc = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        fitted = clone(pipeline).fit(x[train], y[train])
        out_of_fold[test] = fitted.predict_proba(x[test])[:, 1]
        fold_auc.append(evaluate(y[test], out_of_fold[test])["auc"])
    metrics = evaluate(y, out_of_fold)
    return {**metrics, "auc_std": float(np.std(np.asarray(fold_auc, dtype=float)))}


def _choose(candidates: dict[str, dict[str, object]]) -> str:
    """The best AUC; among those within AUC_TIE of it the lowest Brier score (better calibrated)."""
    auc = {name: _number(m["auc"]) for name, m in candidates.items()}
    close = [name for name in candidates if auc[name] >= max(auc.values()) - AUC_TIE]
    return min(close, key=lambda name: _number(candidates[name]["brier"]))


def _number(value: object) -> float:
    assert isinstance(value, float | int)
    return float(value)


def _headline(metrics: dict[str, object]) -> dict[str, object]:
    return {key: metrics[key] for key in ("auc", "pr_auc", "brier", "lift_top_decile", "ece") if key in metrics}
