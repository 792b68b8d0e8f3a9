"""The churn model on the lake: labels from the daily table, a time-based holdout on a simulated operator, the
registry, and `questline ml train churn` / `ml evaluate churn` without a table. The lake (tests/ml/conftest.py) is
built once; everything that touches the registry runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from questline import cli
from questline.kit.errors import ConfigError, Invalid, NotFound
from questline.ml import registry
from questline.ml.churn import ChurnTraining, LabelSpec, labels, load_config, predict_churn, train_churn
from questline.ml.cli import ml_app
from questline.runtime import Runtime
from questline.scoring.daily import scan_daily
from questline.scoring.features import features

app = typer.Typer()
app.add_typer(ml_app, name="ml")
runner = CliRunner()


@pytest.fixture(scope="module")
def trained(lake: tuple[Runtime, dict[str, Any]]) -> ChurnTraining:
    return train_churn(lake[0])


def test_the_holdout_is_accurate_and_calibrated(trained: ChurnTraining) -> None:
    m = trained.metrics
    assert m["auc"] >= 0.85
    assert m["ece"] <= 0.05
    assert m["brier"] < m["base_rate"] * (1 - m["base_rate"])  # better than predicting the base rate
    assert m["lift_top_decile"] >= 4
    assert {"pr_auc", "calibration", "rows", "holdout_date", "train_dates", "horizon_days"} <= m.keys()


def test_the_split_is_by_time(trained: ChurnTraining) -> None:
    m = trained.metrics
    last, holdout = dt.date.fromisoformat(m["as_of"]), dt.date.fromisoformat(m["holdout_date"])
    assert holdout == last - dt.timedelta(days=30)  # the latest date whose horizon is fully observed
    train = [dt.date.fromisoformat(d) for d in m["train_dates"]]
    assert train and max(train) <= holdout - dt.timedelta(days=30)  # purged: no training label looks past it
    assert trained.window == (min(train), max(train) + dt.timedelta(days=30))


def test_the_version_is_registered_with_its_metrics(
    lake: tuple[Runtime, dict[str, Any]], trained: ChurnTraining
) -> None:
    rt = lake[0]
    row = registry.get(rt, "churn", trained.version)
    assert row.metrics["auc"] == trained.metrics["auc"] and row.features == trained.features
    assert "plan" in row.features and "days_observed" not in row.features
    assert (row.trained_from, row.trained_to) == trained.window
    assert not row.active


def test_the_top_decile_is_the_declining_churners(lake: tuple[Runtime, dict[str, Any]], trained: ChurnTraining) -> None:
    rt, truth = lake
    holdout = dt.date.fromisoformat(trained.metrics["holdout_date"])
    scored = predict_churn(rt, trained.model, features(scan_daily(rt.lake), holdout))
    assert scored.columns == ["subscriber_id", "churn_probability"]
    top = scored.sort("churn_probability", descending=True).head(scored.height // 10)["subscriber_id"].to_list()
    declining = sum(truth["personas"].get(s) == "declining" for s in top) / len(top)
    churners = sum(s in truth["churners"] for s in top) / len(top)
    assert declining >= 0.6 and churners >= 0.4


def test_labels_follow_the_configuration() -> None:
    day = dt.date(2026, 11, 1)
    zero = {"voice_calls": 0, "sms": 0, "data_sessions": 0, "port_out_requests": 0, "deactivations": 0}
    rows = [
        {"subscriber_id": "active", "date": day + dt.timedelta(days=5), **zero, "sms": 1},
        {"subscriber_id": "silent", "date": day, **zero, "voice_calls": 3},  # activity on d itself is not after it
        {"subscriber_id": "ports", "date": day + dt.timedelta(days=3), **zero, "sms": 2, "port_out_requests": 1},
        {"subscriber_id": "late", "date": day + dt.timedelta(days=31), **zero, "data_sessions": 1},
        {"subscriber_id": "gone", "date": day - dt.timedelta(days=2), **zero, "deactivations": 1},
    ]
    spec = LabelSpec(
        horizon_days=30,
        billable=["voice_calls", "sms", "data_sessions"],
        events=["port_out_requests", "deactivations"],
        gone=["deactivations"],
    )
    found = labels(pl.DataFrame(rows).lazy(), [day], spec).sort("subscriber_id")
    assert found.select("subscriber_id", "churned", "gone").rows() == [
        ("active", False, False),
        ("gone", True, True),
        ("late", True, False),
        ("ports", True, False),
        ("silent", True, False),
    ]


def test_a_bad_configuration_names_the_field() -> None:
    with pytest.raises(ConfigError, match="not daily metrics: calls"):
        load_config({"label": {"billable": ["calls"]}})
    assert load_config().label.horizon_days == 30


def test_cli_trains_on_the_lake_and_evaluates(
    lake: tuple[Runtime, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rt = lake[0]
    monkeypatch.setattr(cli.state, "_runtime", rt)
    report = json.loads(_run("train", "churn", "--json"))
    assert report["kind"] == "churn" and report["auc"] >= 0.85 and "features" in report

    stored = json.loads(_run("evaluate", "churn", "--version", str(report["version"]), "--json"))
    assert stored["version"] == report["version"] and stored["auc"] == report["auc"]
    with pytest.raises(NotFound):
        runner.invoke(app, ["ml", "evaluate", "churn", "--version", "999", "--json"], catch_exceptions=False)

    registry.activate(rt, "churn", report["version"])
    assert json.loads(_run("evaluate", "churn", "--json"))["version"] == report["version"]

    early = json.loads(_run("train", "churn", "--as-of", "2026-12-20", "--json"))
    assert early["as_of"] == "2026-12-20" and early["holdout_date"] == "2026-11-20"
    with pytest.raises(Invalid):
        runner.invoke(app, ["ml", "train", "churn", "--as-of", "2026-11-01"], catch_exceptions=False)
    with pytest.raises(Invalid):
        runner.invoke(app, ["ml", "train", "churn", "--target", "Churn"], catch_exceptions=False)


def _run(*args: str) -> str:
    result = runner.invoke(app, ["ml", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_an_active_lake_model_drives_risk(lake: tuple[Runtime, dict[str, Any]], trained: ChurnTraining) -> None:
    """Once activated, scoring takes Risk from the model: churn probability x 100, and at-risk segments follow."""
    from questline.ml import registry
    from questline.scoring.service import run_scoring, snapshot

    rt, _ = lake
    registry.activate(rt, "churn", trained.version)
    run = run_scoring(rt)
    assert run.churn_model is not None and f"v{trained.version}" in run.churn_model
    scores = snapshot(rt).collect()
    modelled = scores.filter(pl.col("churn_probability").is_not_null())
    assert modelled.height == scores.height
    assert (modelled["risk"] - modelled["churn_probability"] * 100).abs().max() < 1e-9  # type: ignore[operator]
