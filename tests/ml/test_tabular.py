from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from questline.kit.errors import Invalid
from questline.ml.table_schema import infer_schema, read_table
from questline.ml.tabular import TrainResult, train_table

Crm = Callable[..., pl.DataFrame]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, crm: Crm) -> TrainResult:
    path = tmp_path_factory.mktemp("crm") / "crm.csv"
    crm().write_csv(path)
    return train_table(path, target="Churn", id_column="customerID", folds=5, seed=0)


def test_cross_validated_churn_model_on_a_crm_export(trained: TrainResult) -> None:
    metrics = trained.metrics
    assert metrics["auc"] > 0.78  # the label is driven by contract, tenure and charges, with noise
    assert metrics["lift_top_decile"] > 2.0
    assert metrics["ece"] < 0.05  # well calibrated out of fold
    assert metrics["brier"] < 0.25 * 0.75  # better than predicting the base rate for everyone
    assert set(trained.candidates) == {"logistic", "gradient_boosting"}
    assert metrics["algorithm"] in trained.candidates
    assert trained.params["rows"] == 3000 and trained.params["folds"] == 5


def test_columns_are_typed_like_a_data_scientist_would(trained: TrainResult) -> None:
    schema = trained.model.schema
    assert {"tenure", "MonthlyCharges", "TotalCharges", "SeniorCitizen", "Partner"} <= set(schema.numeric)
    assert {"Contract", "PaymentMethod", "gender"} <= set(schema.categorical)
    assert "customerID" not in schema.features and "Churn" not in schema.features


def test_the_trained_model_scores_new_rows_with_blanks(trained: TrainResult, crm: Crm) -> None:
    rows = crm(rows=50, seed=99).with_columns(pl.lit(" ").alias("TotalCharges"))
    scores = trained.model.score(rows)
    assert scores.columns == ["subscriber_id", "score"] and scores.height == 50
    assert scores["score"].is_between(0, 1).all()
    assert scores["subscriber_id"].to_list() == rows["customerID"].to_list()


def test_id_like_and_useless_columns_are_excluded(crm: Crm) -> None:
    frame = crm(rows=200).with_columns(
        pl.Series("email", [f"c{i}@example.com" for i in range(200)]),
        pl.Series("account_no", [str(100000 + i) for i in range(200)]),
        pl.lit("GB").alias("country"),
        pl.lit(None, dtype=pl.String).alias("notes"),
    )
    schema = infer_schema(frame, target="Churn", id_column="customerID")
    assert set(schema.excluded) == {"email", "account_no", "country", "notes"}
    assert "identifier" in schema.excluded["account_no"]
    assert schema.excluded["country"] == "constant"


def test_parquet_tables_with_boolean_labels(tmp_path: Path, crm: Crm) -> None:
    frame = crm(rows=600).with_columns(
        (pl.col("Churn") == "Yes").alias("Churn"),
        pl.col("TotalCharges").str.strip_chars().cast(pl.Float64, strict=False),
    )
    frame.write_parquet(tmp_path / "crm.parquet")
    result = train_table(tmp_path / "crm.parquet", target="Churn", id_column="customerID", folds=3)
    assert result.metrics["auc"] > 0.7 and result.params["rows"] == 600


def _write(tmp_path: Path, frame: pl.DataFrame) -> Path:
    path = tmp_path / "table.csv"
    frame.write_csv(path)
    return path


def test_rows_without_a_label_are_counted_not_used(tmp_path: Path, crm: Crm) -> None:
    frame = crm(rows=400)
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) < 7).then(pl.lit(" ")).otherwise("Churn").alias("Churn"))
    result = train_table(_write(tmp_path, frame), target="Churn", id_column="customerID", folds=3)
    assert result.params["rows"] == 393 and result.params["rows_without_target"] == 7


@pytest.mark.parametrize(
    ("change", "kwargs", "field"),
    [
        (lambda f: f, {"target": "Churned"}, "target"),
        (lambda f: f, {"id_column": "id"}, "id"),
        (lambda f: f.with_columns(pl.lit("No").alias("Churn")), {}, "target"),
        (lambda f: f.with_columns(pl.Series("Churn", ["Yes", "No", "Maybe"] * 40)), {}, "target"),
        (lambda f: f.with_columns(pl.Series("Churn", ["Churned", "Stayed"] * 60)), {}, "target"),
        (lambda f: f, {"folds": 1}, "folds"),
        (lambda f: f.select("customerID", "Churn"), {}, "table"),
    ],
)
def test_bad_tables_name_the_field(
    tmp_path: Path, change: object, kwargs: dict[str, object], field: str, crm: Crm
) -> None:
    frame = change(crm(rows=120))  # type: ignore[operator]
    options: dict[str, object] = {"target": "Churn", "id_column": "customerID"} | kwargs
    with pytest.raises(Invalid) as error:
        train_table(_write(tmp_path, frame), **options)
    assert error.value.field == field


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"\x00not parquet at all" * 10)
    for path in (tmp_path / "broken.parquet", tmp_path / "absent.csv"):
        with pytest.raises(Invalid) as error:
            read_table(path)
        assert error.value.field == "table"


def test_too_few_churners_for_the_folds(tmp_path: Path, crm: Crm) -> None:
    frame = crm(rows=100).with_columns(
        pl.when(pl.int_range(pl.len()) < 2).then(pl.lit("Yes")).otherwise(pl.lit("No")).alias("Churn")
    )
    with pytest.raises(Invalid, match="fewer than 5 folds"):
        train_table(_write(tmp_path, frame), target="Churn", id_column="customerID")


def test_training_is_reproducible(tmp_path: Path, crm: Crm) -> None:
    path = _write(tmp_path, crm(rows=300))
    first, second = (train_table(path, target="Churn", id_column="customerID", folds=3, seed=4) for _ in range(2))
    assert first.metrics["auc"] == second.metrics["auc"]
    frame = crm(rows=20, seed=1)
    assert np.allclose(first.model.predict(frame), second.model.predict(frame))
