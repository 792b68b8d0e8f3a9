from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from questline.kit.errors import Invalid
from questline.ml import registry
from questline.ml.external import import_scores, scores_of
from questline.ml.tabular import train_table
from questline.runtime import Runtime

SCORES = """subscriber,model,score,as_of
s1,ds_churn_v7,0.12,2026-11-01
s2,ds_churn_v7,0.93,2026-11-01
,ds_churn_v7,0.5,2026-11-01
s4,ds_churn_v7,1.7,2026-11-01
s5,ds_churn_v7,high,2026-11-01
s6,ds_churn_v6,0.4,2026-11-01
s7,ds_churn_v7,0.3,01/11/2026
s1,ds_churn_v7,0.2,2026-10-01
s8, ds_churn_v7 , 0.66 ,2026-11-02T08:00:00
"""


def _file(tmp_path: Path, text: str = SCORES) -> Path:
    path = tmp_path / "scores.csv"
    path.write_text(text)
    return path


def test_import_keeps_good_rows_and_reports_the_others(rt: Runtime, tmp_path: Path) -> None:
    result = import_scores(rt, _file(tmp_path), model="ds_churn_v7", kind="churn")
    reasons = dict(zip(result.rejects["row"].to_list(), result.rejects["reason"].to_list(), strict=True))
    assert reasons == {
        3: "subscriber is missing",
        4: "score 1.7 is outside [0, 1]",
        5: "score is not a number: high",
        6: "model is ds_churn_v6, not ds_churn_v7",
        7: "as_of is not a date (YYYY-MM-DD): 01/11/2026",
        8: "superseded by row 1 of the same subscriber",
    }
    assert result.accepted == 3
    model = result.model
    assert (model.kind, model.version, model.origin, model.name) == ("churn", 1, "external", "ds_churn_v7")
    assert model.artifact == "models/churn/1/scores.parquet" and not model.active
    scores = scores_of(rt, model).sort("subscriber_id")
    assert scores.to_dicts() == [
        {"subscriber_id": "s1", "score": 0.12},
        {"subscriber_id": "s2", "score": 0.93},
        {"subscriber_id": "s8", "score": 0.66},
    ]


def test_activated_external_scores_replace_the_builtin_model(
    rt: Runtime, tmp_path: Path, crm: Callable[..., pl.DataFrame]
) -> None:
    crm(rows=400).write_csv(tmp_path / "crm.csv")
    trained = train_table(tmp_path / "crm.csv", target="Churn", id_column="customerID", folds=3)
    registry.save_model(rt, trained.model, kind="churn", name="builtin", metrics=trained.metrics, features=[])
    registry.activate(rt, "churn", 1)
    builtin = registry.active(rt, "churn")
    assert builtin is not None
    features = crm(rows=5, seed=3)
    assert scores_of(rt, builtin, features)["subscriber_id"].to_list() == features["customerID"].to_list()
    with pytest.raises(Invalid) as error:
        scores_of(rt, builtin)
    assert error.value.field == "features"

    imported = import_scores(rt, _file(tmp_path), model="ds_churn_v7")
    registry.activate(rt, "churn", imported.model.version)
    current = registry.active(rt, "churn")
    assert current is not None and current.origin == "external" and current.version == 2
    assert scores_of(rt, current).height == 3


def test_declared_ranges_and_parquet_files(rt: Runtime, tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "subscriber": ["a", "b", "c"],
            "model": ["clv"] * 3,
            "score": [250.0, 1200.0, -1.0],
            "as_of": [dt.date(2026, 11, 1)] * 3,
        }
    )
    frame.write_parquet(tmp_path / "ltv.parquet")
    result = import_scores(rt, tmp_path / "ltv.parquet", model="clv", kind="ltv", score_range=(0, 1000))
    assert result.accepted == 1 and result.rejects["row"].to_list() == [2, 3]
    assert scores_of(rt, result.model)["score"].to_list() == [250.0]
    unbounded = import_scores(rt, tmp_path / "ltv.parquet", model="clv", kind="ltv")
    assert unbounded.accepted == 3 and unbounded.model.version == 2


@pytest.mark.parametrize(
    ("text", "options", "field"),
    [
        ("subscriber,score,as_of\ns1,0.1,2026-11-01\n", {}, "file"),
        ("subscriber,model,score,as_of\ns1,m,7,2026-11-01\n", {}, "file"),
        ("subscriber,model,score,as_of\ns1,m,0.1,2026-11-01\n", {"kind": "weather"}, "kind"),
        ("subscriber,model,score,as_of\ns1,m,0.1,2026-11-01\n", {"score_range": (1, 0)}, "score_range"),
    ],
)
def test_unusable_imports_are_refused(
    rt: Runtime, tmp_path: Path, text: str, options: dict[str, object], field: str
) -> None:
    with pytest.raises(Invalid) as error:
        import_scores(rt, _file(tmp_path, text), model="m", **options)
    assert error.value.field == field
    assert registry.list_models(rt) == []
    assert not (rt.settings.home / "models").exists() or not any((rt.settings.home / "models").rglob("*.parquet"))
