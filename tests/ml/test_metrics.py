from __future__ import annotations

import numpy as np
import pytest

from questline.kit.errors import Invalid
from questline.ml import metrics

Y = [0, 0, 1, 1]
P = [0.1, 0.4, 0.35, 0.8]


def test_auc_counts_correctly_ordered_pairs() -> None:
    # pairs (positive, negative): (0.35, 0.1) ok, (0.35, 0.4) wrong, (0.8, *) ok → 3 of 4
    assert metrics.roc_auc(Y, P) == pytest.approx(0.75)


def test_pr_auc_is_average_precision() -> None:
    # ranked 0.8(+) 0.4(-) 0.35(+) 0.1(-): precision 1 at recall 0.5, 2/3 at recall 1
    assert metrics.pr_auc(Y, P) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_brier_is_mean_squared_error_of_probabilities() -> None:
    assert metrics.brier(Y, P) == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)


def test_lift_in_the_top_decile() -> None:
    assert metrics.lift_at(Y, P, 0.1) == pytest.approx(2.0)  # top 1 of 4 is a churner; base rate 0.5
    y = np.zeros(20, dtype=int)
    y[[19, 3, 5, 7, 9]] = 1  # base rate 0.25; of the two highest scores (rows 19, 18) one churns
    assert metrics.lift_at(y, np.arange(20) / 20, 0.1) == pytest.approx(0.5 / 0.25)
    assert metrics.lift_at([0, 0], [0.2, 0.3]) == 0.0


def test_expected_calibration_error_weights_bins_by_rows() -> None:
    # ten bins: every row alone in its bin, gaps 0.1, 0.4, 0.65, 0.2
    assert metrics.expected_calibration_error(Y, P) == pytest.approx(1.35 / 4)
    # two bins: {0.1, 0.4, 0.35} predicts 0.2833 and sees 1/3; {0.8} predicts 0.8 and sees 1
    assert metrics.expected_calibration_error(Y, P, bins=2) == pytest.approx((3 * (1 / 3 - 0.85 / 3) + 0.2) / 4)
    assert metrics.expected_calibration_error([1, 0], [1.0, 0.0]) == 0.0  # p = 1 falls in the last bin


def test_evaluate_reports_every_headline_metric() -> None:
    report = metrics.evaluate(Y, P)
    assert {"auc", "pr_auc", "brier", "lift_top_decile", "ece", "base_rate", "rows", "calibration"} <= report.keys()
    assert report["rows"] == 4 and report["base_rate"] == 0.5


@pytest.mark.parametrize(("y", "p", "field"), [([0, 1], [0.5], "y_prob"), ([0, 2], [0.1, 0.2], "y_true")])
def test_bad_vectors_are_refused(y: list[int], p: list[float], field: str) -> None:
    with pytest.raises(Invalid) as error:
        metrics.evaluate(y, p)
    assert error.value.field == field
