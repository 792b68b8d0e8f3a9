"""Metrics for a binary classifier's probabilities, shared by every churn evaluation (cross-validated tables and the
lake model's time-based holdout), so that the numbers are comparable between them."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from questline.kit.errors import Invalid


def _arrays(y_true: ArrayLike, y_prob: ArrayLike) -> tuple[NDArray[np.int_], NDArray[np.float64]]:
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(y_prob, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise Invalid("labels and probabilities must be two vectors of one length", field="y_prob")
    if not set(np.unique(y)) <= {0, 1}:
        raise Invalid("labels must be 0 or 1", field="y_true")
    return y, p


def roc_auc(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    y, p = _arrays(y_true, y_prob)
    return float(roc_auc_score(y, p))


def pr_auc(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Average precision: the area under the precision-recall curve as a step function (no optimistic interpolation)."""
    y, p = _arrays(y_true, y_prob)
    return float(average_precision_score(y, p))


def brier(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    y, p = _arrays(y_true, y_prob)
    return float(brier_score_loss(y, p))


def lift_at(y_true: ArrayLike, y_prob: ArrayLike, share: float = 0.1) -> float:
    """Positive rate among the `share` highest scored (at least one) over the overall positive rate. A campaign
    targeting the top decile reaches this many times more churners than a random pick."""
    y, p = _arrays(y_true, y_prob)
    base = y.mean()
    if base == 0:
        return 0.0
    top = max(1, int(np.ceil(len(y) * share)))
    order = np.argsort(-p, kind="stable")  # ties keep input order, so the figure is reproducible
    return float(y[order[:top]].mean() / base)


def calibration_table(y_true: ArrayLike, y_prob: ArrayLike, bins: int = 10) -> list[dict[str, float]]:
    """Per equal-width probability bin: rows, mean predicted probability and observed positive rate."""
    y, p = _arrays(y_true, y_prob)
    index = np.minimum((p * bins).astype(int), bins - 1)
    table = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            table.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "rows": int(mask.sum()),
                    "predicted": float(p[mask].mean()),
                    "observed": float(y[mask].mean()),
                }
            )
    return table


def expected_calibration_error(y_true: ArrayLike, y_prob: ArrayLike, bins: int = 10) -> float:
    """Row-weighted mean gap between predicted probability and observed rate over equal-width bins."""
    y, _ = _arrays(y_true, y_prob)
    table = calibration_table(y_true, y_prob, bins)
    return float(sum(row["rows"] * abs(row["predicted"] - row["observed"]) for row in table) / len(y))


def evaluate(y_true: ArrayLike, y_prob: ArrayLike) -> dict[str, object]:
    """Every headline metric of a churn model, as plain JSON-ready values."""
    y, p = _arrays(y_true, y_prob)
    return {
        "auc": roc_auc(y, p),
        "pr_auc": pr_auc(y, p),
        "brier": brier(y, p),
        "lift_top_decile": lift_at(y, p, 0.1),
        "ece": expected_calibration_error(y, p),
        "base_rate": float(y.mean()),
        "rows": len(y),
        "calibration": calibration_table(y, p),
    }
