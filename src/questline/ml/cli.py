"""`questline ml …`: train, list, activate and import models. Mounted by the main command as the `ml` group."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from questline.kit.output import JsonFlag, out, print_table

if TYPE_CHECKING:
    from questline.runtime import Runtime

ml_app = typer.Typer(no_args_is_help=True, help="Churn, next best offer and lifetime value models.")
train_app = typer.Typer(no_args_is_help=True, help="Train a model and register it as a new version.")
ml_app.add_typer(train_app, name="train")


def _runtime() -> Runtime:
    from questline.cli import state  # imported late: questline.cli mounts this module

    return state.runtime


@train_app.command("churn")
def train_churn(
    table: Annotated[
        Path | None, typer.Option("--table", help="A labelled CSV or Parquet table (a CRM export); else the lake.")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="The churn label column (Yes/No, True/False, 1/0).")
    ] = None,
    id_column: Annotated[str | None, typer.Option("--id", help="The customer id column (never a feature).")] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the folds and the model.")] = 0,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Lake only: the last date of data used (default the latest).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Lake only: a churn.yaml (default the shipped one).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Train a churn model on an operator's own table (cross-validated metrics), or without --table on the lake's
    daily table (metrics on the time-based holdout)."""
    from questline.kit.errors import Invalid
    from questline.ml import registry
    from questline.ml.tabular import train_table

    if table is None:
        if target is not None or id_column is not None:
            raise Invalid("--target and --id go with --table", field="table")
        _train_churn_lake(as_of, config, as_json)
        return
    if as_of is not None or config is not None:
        raise Invalid("--as-of and --config apply to the lake, not to --table", field="table")
    if target is None or id_column is None:
        raise Invalid("--table needs --target and --id", field="target" if target is None else "id")

    result = train_table(table, target=target, id_column=id_column, folds=folds, seed=seed)
    name = f"{result.model.algorithm} on {table.name}"
    params = {
        **result.params,
        "trained_on": "table",
        "algorithm": result.model.algorithm,
        "excluded": result.model.schema.excluded,
    }
    row = registry.save_model(
        _runtime(),
        result.model,
        kind="churn",
        name=name,
        metrics=result.metrics,
        features=result.features,
        params=params,
    )
    if as_json:
        print(json.dumps({"kind": "churn", "version": row.version, **result.as_json()}, indent=2, default=str))
        return
    out.print(f"churn version {row.version}: {result.model.algorithm}, {len(result.features)} features")
    rows = [{"model": algorithm} | _headline(metrics, "churn") for algorithm, metrics in result.candidates.items()]
    print_table(rows, title=f"{folds}-fold cross-validation")
    out.print(f"activate it with: questline ml activate churn {row.version}")


def _train_churn_lake(as_of: str | None, config: Path | None, as_json: bool) -> None:
    from questline.ml.churn import load_config
    from questline.ml.churn import train_churn as train

    result = train(_runtime(), as_of=_date(as_of), config=load_config(config))
    if as_json:
        body = {"kind": "churn", "version": result.version, **result.metrics, "features": result.features}
        print(json.dumps(body, indent=2, default=str))
        return
    metrics = result.metrics
    out.print(f"churn version {result.version}: {metrics['algorithm']}, {len(result.features)} features")
    print_table([_headline(metrics, "churn") | {"rows": metrics["rows"]}], title=f"holdout {metrics['holdout_date']}")
    out.print(f"activate it with: questline ml activate churn {result.version}")


AsOf = Annotated[
    str | None, typer.Option("--as-of", help="The last date of data used, YYYY-MM-DD (default the latest).")
]


@train_app.command("nbo")
def train_nbo(
    as_of: AsOf = None,
    config: Annotated[Path | None, typer.Option("--config", help="An nbo.yaml (default the shipped one).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Learn next best offers from the lake's bundle purchases up to as_of minus the holdout days, and measure the
    offers on what subscribers bought in those days: hit rate and precision at k against a popularity baseline."""
    from questline.ml.nbo import load_config
    from questline.ml.training import train_nbo as train

    result = train(_runtime(), as_of=_date(as_of), config=load_config(config))
    if as_json:
        print(json.dumps(result.as_json(), indent=2, default=str))
        return
    m = result.metrics
    out.print(f"nbo version {result.version}: {m['products']} products, {m['segments']} segments")
    rows = [
        {"offers": "model"} | {key: _fmt(m[f"{key}_at_k"]) for key in ("hit_rate", "precision", "recall")},
        {"offers": "most popular"}
        | {key: _fmt(m[f"baseline_{key}_at_k"]) for key in ("hit_rate", "precision", "recall")},
    ]
    title = f"top {m['k']} offers vs purchases {m['holdout_from']} to {m['holdout_to']} ({m['evaluated']} buyers)"
    print_table(rows, title=title)
    out.print(f"activate it with: questline ml activate nbo {result.version}")


@train_app.command("ltv")
def train_ltv(
    as_of: AsOf = None,
    config: Annotated[Path | None, typer.Option("--config", help="An ltv.yaml (default the shipped one).")] = None,
    check_months: Annotated[
        int, typer.Option("--check-months", help="Months (of 30 days) before as_of to check predictions on.")
    ] = 1,
    as_json: JsonFlag = False,
) -> None:
    """Register the lifetime value configuration as a version, after checking the formula's revenue over the last
    months before as_of against what subscribers actually brought (MAE, correlation, against the bare run rate)."""
    from questline.ml.ltv import load_config
    from questline.ml.training import train_ltv as train

    result = train(_runtime(), as_of=_date(as_of), config=load_config(config), check_months=check_months)
    if as_json:
        print(json.dumps(result.as_json(), indent=2, default=str))
        return
    m = result.metrics
    out.print(
        f"ltv version {result.version}: {m['horizon_months']} months, discount {m['monthly_discount']:.2%} a month, "
        f"churn from {m['churn_source']}"
    )
    rows = [
        {"prediction": "ltv formula", "mae": _fmt(m["mae"]), "correlation": _fmt(m["correlation"])},
        {"prediction": "run rate only", "mae": _fmt(m["baseline_mae"]), "correlation": _fmt(m["baseline_correlation"])},
    ]
    print_table(rows, title=f"revenue {m['check_from']} to {m['check_to']} (mean {m['mean_actual']:.2f})")
    out.print(f"activate it with: questline ml activate ltv {result.version}")


def _date(value: str | None) -> dt.date | None:
    from questline.kit.errors import Invalid

    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        raise Invalid(f"not a date: {value!r} (YYYY-MM-DD)", field="as_of") from None


@ml_app.command("evaluate")
def evaluate(
    kind: Annotated[str, typer.Argument(help="The model kind: churn, nbo or ltv.")],
    version: Annotated[int | None, typer.Option("--version", help="This version (default the active one).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The stored metrics of a model version (the active one by default)."""
    from questline.kit.errors import NotFound
    from questline.ml import registry

    rt = _runtime()
    row = registry.get(rt, kind, version) if version is not None else registry.active(rt, kind)
    if row is None:
        raise NotFound(f"no active {kind} model: give --version or activate one", field="version")
    if as_json:
        print(json.dumps({"kind": row.kind, "version": row.version, **row.metrics}, indent=2, default=str))
        return
    out.print(f"{row.kind} version {row.version} ({row.name})")
    print_table([_headline(row.metrics, row.kind)], title="metrics")
    calibration = row.metrics.get("calibration")
    if isinstance(calibration, list):
        print_table(calibration, title="calibration on the holdout")


@ml_app.command("list")
def list_models(
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind.")] = None, as_json: JsonFlag = False
) -> None:
    """Every model version, with its headline metrics."""
    from questline.ml import registry

    rows = [registry.as_dict(m) for m in registry.list_models(_runtime(), kind)]
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    print_table([_summary(row) for row in rows], title="Models")


@ml_app.command("activate")
def activate(kind: str, version: int) -> None:
    """Use this version for its kind from now on (the previous one is deactivated)."""
    from questline.ml import registry

    row = registry.activate(_runtime(), kind, version)
    out.print(f"{row.kind} version {row.version} ({row.name}) is active")


@ml_app.command("import")
def import_scores(
    file: Annotated[Path, typer.Option("--file", "-f", help="CSV or Parquet: subscriber, model, score, as_of.")],
    model: Annotated[str, typer.Option("--model", help="The model name in the file's `model` column.")],
    kind: Annotated[str, typer.Option("--kind", help="What the scores are: churn, nbo or ltv.")] = "churn",
    low: Annotated[float | None, typer.Option("--min", help="Lowest valid score (churn: 0).")] = None,
    high: Annotated[float | None, typer.Option("--max", help="Highest valid score (churn: 1).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Import an operator's own scores as a new external version of a kind; bad rows are listed with reasons."""
    from questline.kit.errors import Invalid
    from questline.ml.external import import_scores as run_import

    if (low is None) != (high is None):
        raise Invalid("give both --min and --max, or neither", field="min" if low is None else "max")
    score_range = (low, high) if low is not None and high is not None else None
    result = run_import(_runtime(), file, model=model, kind=kind, score_range=score_range)
    if as_json:
        print(json.dumps(result.as_dict(), indent=2, default=str))
        return
    counts = f"{result.accepted} subscribers, {result.rejects.height} rows rejected"
    out.print(f"{kind} version {result.model.version} ({model}): {counts}")
    print_table(result.rejects.head(20).to_dicts(), title="first rejected rows")
    out.print(f"activate it with: questline ml activate {kind} {result.model.version}")


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    metrics = row["metrics"]
    keys = (*SUMMARY.get(row["kind"], ()), "subscribers")
    shown = {key: _fmt(metrics[key]) for key in keys if key in metrics}
    base = {k: row[k] for k in ("kind", "version", "name", "origin", "active")}
    base["created"] = (row["created_at"] or "")[:16]
    return base | {"metrics": " ".join(f"{k}={v}" for k, v in shown.items())}


SUMMARY = {
    "churn": ("auc", "brier", "lift_top_decile"),
    "nbo": ("hit_rate_at_k", "baseline_hit_rate_at_k"),
    "ltv": ("mae", "baseline_mae", "correlation"),
}
HEADLINE = {
    "churn": ("auc", "pr_auc", "brier", "lift_top_decile", "ece"),
    "nbo": ("k", "hit_rate_at_k", "precision_at_k", "recall_at_k", "baseline_hit_rate_at_k", "baseline_precision_at_k"),
    "ltv": (
        "horizon_months",
        "monthly_discount",
        "mae",
        "baseline_mae",
        "correlation",
        "rank_correlation",
        "total_ratio",
    ),
}
IMPORTED = ("subscribers", "rejected", "score_mean")


def _headline(metrics: dict[str, object], kind: str) -> dict[str, str]:
    return {key: _fmt(metrics[key]) for key in (*HEADLINE.get(kind, ()), *IMPORTED) if key in metrics}


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
