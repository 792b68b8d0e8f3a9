"""The `ml` command group through typer's runner, on a small app that mounts it as the main command will."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from questline import cli
from questline.kit.errors import Invalid, NotFound
from questline.ml.cli import ml_app
from questline.runtime import Runtime

app = typer.Typer()
app.add_typer(ml_app, name="ml")
runner = CliRunner()


@pytest.fixture
def using(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setattr(cli.state, "_runtime", rt)
    return rt


def _run(*args: str) -> str:
    result = runner.invoke(app, ["ml", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_train_list_activate_import(using: Runtime, tmp_path: Path, crm: Callable[..., pl.DataFrame]) -> None:
    crm(rows=800).write_csv(tmp_path / "crm.csv")
    table = str(tmp_path / "crm.csv")
    report = json.loads(_run("train", "churn", "--table", table, "--target", "Churn", "--id", "customerID", "--json"))
    assert report["auc"] > 0.75 and report["version"] == 1 and report["kind"] == "churn"
    assert {"pr_auc", "brier", "lift_top_decile", "ece", "candidates", "features"} <= report.keys()
    assert "churn version 2" in _run("train", "churn", "--table", table, "--target", "Churn", "--id", "customerID")

    (tmp_path / "scores.csv").write_text("subscriber,model,score,as_of\ns1,ds,0.2,2026-11-01\ns2,ds,2,2026-11-01\n")
    imported = json.loads(_run("import", "--file", str(tmp_path / "scores.csv"), "--model", "ds", "--json"))
    assert imported["version"] == 3 and imported["accepted"] == 1
    assert imported["rejects"] == [{"row": 2, "reason": "score 2 is outside [0, 1]"}]

    assert "churn version 3 (ds) is active" in _run("activate", "churn", "3")
    listed = json.loads(_run("list", "--json"))
    assert [(m["version"], m["origin"], m["active"]) for m in listed] == [
        (1, "builtin", False),
        (2, "builtin", False),
        (3, "external", True),
    ]
    assert "Models" in _run("list")


def test_errors_carry_their_field(using: Runtime, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        runner.invoke(app, ["ml", "activate", "churn", "4"], catch_exceptions=False)
    with pytest.raises(Invalid) as error:
        runner.invoke(
            app,
            ["ml", "train", "churn", "--table", str(tmp_path / "no.csv"), "--target", "t", "--id", "i"],
            catch_exceptions=False,
        )
    assert error.value.field == "table"


def test_the_installed_command_trains_on_an_operators_table(tmp_path: Path, crm_csv: Path) -> None:
    """As an operator's data scientist runs it: a real process, a CRM export, metrics as JSON on stdout."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("QUESTLINE_")}
    command = [sys.executable, "-m", "questline", "--home", str(tmp_path / "home"), "ml", "train", "churn"]
    args = ["--table", str(crm_csv), "--target", "Churn", "--id", "customerID", "--json"]
    done = subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert metrics["auc"] > 0.75
    wrong = subprocess.run([*command, *args[:3], "Nope", *args[4:]], capture_output=True, text=True, env=env)
    assert wrong.returncode != 0 and len(wrong.stderr.strip().splitlines()) == 1
