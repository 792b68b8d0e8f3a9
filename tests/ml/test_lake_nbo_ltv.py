"""Next best offer and lifetime value versions trained on the simulated operator's lake (tests/ml/conftest.py, built
once): their holdout checks, the registry and `questline ml train nbo|ltv`, and the scoring run using the active
versions, on SQLite and on PostgreSQL."""

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
from questline.kit.errors import ConfigError, Invalid
from questline.ml import external, nbo, registry
from questline.ml.cli import ml_app
from questline.ml.ltv import load_config
from questline.ml.training import Training, train_ltv, train_nbo
from questline.runtime import Runtime
from questline.scoring.daily import scan_daily
from questline.scoring.features import features
from questline.scoring.service import run_scoring, score_day, snapshot

Lake = tuple[Runtime, dict[str, Any]]
app = typer.Typer()
app.add_typer(ml_app, name="ml")
runner = CliRunner()
PRODUCTS = [
    "DATA_1GB_7D", "DATA_20GB_30D", "DATA_5GB_30D", "INTL_100MIN_30D", "NIGHT_DATA_UNL_1D", "ROAM_DAY_PASS",
    "SOCIAL_UNL_7D",
]  # fmt: skip


@pytest.fixture(scope="module")
def offers_model(lake: Lake) -> Training:
    return train_nbo(lake[0])


@pytest.fixture(scope="module")
def value_model(lake: Lake) -> Training:
    return train_ltv(lake[0])


def test_offers_are_learned_before_the_holdout_and_checked_on_it(lake: Lake, offers_model: Training) -> None:
    rt = lake[0]
    m = offers_model.metrics
    last = dt.date.fromisoformat(m["as_of"])
    assert m["holdout_from"] == (last - dt.timedelta(days=29)).isoformat() and m["holdout_to"] == m["as_of"]
    assert offers_model.window[1] == last - dt.timedelta(days=30)  # learned from purchases up to the cut-off only
    assert m["k"] == 3 and m["evaluated"] > 300 and m["products"] == len(PRODUCTS)
    for name in ("hit_rate", "precision", "recall"):
        assert 0 < m[f"{name}_at_k"] <= 1 and 0 < m[f"baseline_{name}_at_k"] <= 1

    row = registry.get(rt, "nbo", offers_model.version)
    assert not row.active and row.origin == "builtin" and row.metrics == m
    assert (row.trained_from, row.trained_to) == offers_model.window
    model = registry.load(rt, row)
    assert isinstance(model, nbo.NboModel) and model.products == PRODUCTS and model.offers == 3


def test_learned_offers_beat_popularity_where_tastes_differ(lake: Lake, offers_model: Training) -> None:
    """Bargain hunters buy other bundles than everyone else: what they hold tells more than what is popular."""
    rt, truth = lake
    model = registry.load(rt, registry.get(rt, "nbo", offers_model.version))
    cutoff = offers_model.window[1]
    held = nbo.holdings(nbo.lake_purchases(rt, end=cutoff))
    hunters = [s for s, persona in truth["personas"].items() if persona == "bargain_hunter"]
    segments = score_day(rt, scan_daily(rt.lake), cutoff).frame.select("subscriber_id", "segment")
    subscribers = segments.filter(pl.col("subscriber_id").is_in(hunters))
    last = dt.date.fromisoformat(offers_model.metrics["as_of"])
    bought = nbo.lake_purchases(rt, start=cutoff + dt.timedelta(days=1), end=last)
    check = nbo.evaluate(model, held, subscribers, bought)
    assert check["evaluated"] >= 15
    assert check["hit_rate_at_k"] > check["baseline_hit_rate_at_k"]
    assert check["precision_at_k"] > check["baseline_precision_at_k"]


def test_lifetime_value_is_checked_on_the_last_month(lake: Lake, value_model: Training) -> None:
    rt = lake[0]
    m = value_model.metrics
    assert (m["horizon_months"], m["churn_months"], m["monthly_discount"]) == (12, 1, 0.01)  # ml/ltv.yaml
    assert (m["check_from"], m["check_to"]) == ("2026-11-30", "2026-12-29") and m["check_months"] == 1
    # the run rate alone foresees next month's revenue in total; the formula takes churn off it, here from Risk
    assert m["churn_source"].startswith("base churn") and not m["churn_overlaps_check"]
    assert 0.9 < m["total_ratio"] < 1.1  # the heuristic's churn is a monthly probability (Risk / 100 halved it)
    assert 0.4 < m["correlation"] <= 1 and 0.4 < m["rank_correlation"] <= 1 and m["mae"] > 0
    row = registry.get(rt, "ltv", value_model.version)
    assert row.metrics == m and not row.active
    assert registry.load(rt, row).horizon_months == 12


def test_bad_requests_name_the_field(lake: Lake) -> None:
    rt = lake[0]
    versions = len(registry.list_models(rt))
    with pytest.raises(Invalid) as early:
        train_nbo(rt, as_of=dt.date(2026, 10, 20))  # history from 2026-10-01: shorter than the 30 holdout days
    assert early.value.field == "as_of"
    with pytest.raises(Invalid) as short:
        train_ltv(rt, check_months=3)  # 90 days of history: no 30 days of run rate before three months
    assert short.value.field == "as_of"
    with pytest.raises(Invalid) as months:
        train_ltv(rt, check_months=0)
    assert months.value.field == "check_months"
    assert len(registry.list_models(rt)) == versions  # a refused request registers nothing


def test_cli_trains_lists_and_evaluates(lake: Lake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rt = lake[0]
    monkeypatch.setattr(cli.state, "_runtime", rt)
    offers = json.loads(_run("train", "nbo", "--json"))
    assert offers["kind"] == "nbo" and {"hit_rate_at_k", "baseline_hit_rate_at_k", "precision_at_k"} <= offers.keys()
    own = tmp_path / "ltv.yaml"
    own.write_text("horizon_months: 24\nmonthly_discount: 0.0\n")
    value = json.loads(_run("train", "ltv", "--config", str(own), "--check-months", "2", "--json"))
    assert value["kind"] == "ltv" and (value["horizon_months"], value["monthly_discount"]) == (24, 0.0)
    assert (value["check_from"], value["check_months"]) == ("2026-10-31", 2)

    listed = {(m["kind"], m["version"]) for m in json.loads(_run("list", "--json"))}
    assert {("nbo", offers["version"]), ("ltv", value["version"])} <= listed
    assert {m["kind"] for m in json.loads(_run("list", "--kind", "nbo", "--json"))} == {"nbo"}
    assert "Models" in _run("list", "--kind", "nbo")
    stored = json.loads(_run("evaluate", "ltv", "--version", str(value["version"]), "--json"))
    assert stored["mae"] == value["mae"]
    assert f"nbo version {offers['version']}" in _run("activate", "nbo", str(offers["version"]))
    assert json.loads(_run("evaluate", "nbo", "--json"))["version"] == offers["version"]
    assert f"nbo version {offers['version']}" in _run("evaluate", "nbo")

    own.write_text("holdout_days: 0\n")
    with pytest.raises(ConfigError) as bad:
        runner.invoke(app, ["ml", "train", "nbo", "--config", str(own)], catch_exceptions=False)
    assert bad.value.field == "holdout_days"
    with pytest.raises(Invalid) as date:
        runner.invoke(app, ["ml", "train", "ltv", "--as-of", "29/12/2026"], catch_exceptions=False)
    assert date.value.field == "as_of"


def _run(*args: str) -> str:
    result = runner.invoke(app, ["ml", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_scoring_uses_the_active_versions(lake: Lake, offers_model: Training, tmp_path: Path) -> None:
    rt = lake[0]
    own = tmp_path / "ltv.yaml"
    own.write_text("horizon_months: 1\nmonthly_discount: 0.0\n")
    next_month = train_ltv(rt, config=load_config(own))
    registry.activate(rt, "nbo", offers_model.version)
    registry.activate(rt, "ltv", next_month.version)
    run = run_scoring(rt)
    assert f"nbo v{offers_model.version}" in (run.nbo_model or "")
    assert f"ltv v{next_month.version}" in (run.ltv_model or "")
    assert run.as_dict()["nbo_model"] == run.nbo_model

    # one month without discount: this month's run rate, kept with the probability of staying
    scores = snapshot(rt).collect()
    run_rate = features(scan_daily(rt.lake), run.as_of).select("subscriber_id", "revenue_30d")
    expected = scores.join(run_rate, on="subscriber_id").with_columns(
        (pl.col("revenue_30d") * (1 - 0.03 * (pl.col("risk") / 50) ** 2)).alias("expected")  # QUESTLINE_BASE_CHURN
    )
    assert (expected["lifetime_value"] - expected["expected"]).abs().max() < 1e-9  # type: ignore[operator]

    # offers rank with what the version learned: its popularity per segment (the base's shares for a segment it
    # never saw), not a popularity learned from the purchases up to the run's day
    model = registry.load(rt, registry.get(rt, "nbo", offers_model.version))
    offers = snapshot(rt, "offers").collect().join(scores.select("subscriber_id", "segment"), on="subscriber_id")
    learned = (
        offers.join(model.popularity, on=["segment", "product"], how="left", suffix="_learned")
        .join(model.base, on="product")
        .with_columns(pl.col("popularity_learned").fill_null(pl.col("base_share")))
    )
    assert learned.height == offers.height and set(offers["product"]) <= set(model.products)
    assert (learned["popularity"] - learned["popularity_learned"]).abs().max() < 1e-12  # type: ignore[operator]
    today = nbo.fit(nbo.holdings(nbo.lake_purchases(rt, end=run.as_of)), scores.select("subscriber_id", "segment"))
    assert not today.popularity.sort("segment", "product").equals(model.popularity.sort("segment", "product"))
    held = nbo.holdings(nbo.lake_purchases(rt, end=run.as_of))
    assert offers.join(held, on=["subscriber_id", "product"]).is_empty()  # what is held by the run's day is not offered


def test_imported_values_and_scores(lake: Lake, tmp_path: Path) -> None:
    """An imported ltv version gives the lifetime values as they are (none for subscribers it lacks); imported nbo
    scores name no product, so offers are learned on the fly as without a version."""
    rt = lake[0]
    someone, other = snapshot(rt).collect().sort("subscriber_id")["subscriber_id"].head(2).to_list()
    path = tmp_path / "values.csv"
    path.write_text(f"subscriber,model,score,as_of\n{someone},clv,123.5,2026-12-29\n")
    value = external.import_scores(rt, path, model="clv", kind="ltv")
    path.write_text(f"subscriber,model,score,as_of\n{someone},propensity,0.4,2026-12-29\n")
    propensity = external.import_scores(rt, path, model="propensity", kind="nbo")
    registry.activate(rt, "ltv", value.model.version)
    registry.activate(rt, "nbo", propensity.model.version)
    run = run_scoring(rt)
    assert run.ltv_model is not None and "clv" in run.ltv_model and run.nbo_model is None
    values = dict(snapshot(rt).collect().select("subscriber_id", "lifetime_value").iter_rows())
    assert values[someone] == 123.5 and values[other] is None
    assert snapshot(rt, "offers").collect()["subscriber_id"].n_unique() > 1000
