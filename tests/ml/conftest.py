"""Fixtures of the ML tests.

A synthetic CRM export shaped like the telco churn tables operators keep: ids, Yes/No flags, 0/1 flags, categories,
numbers stored as text with blank cells, and a Yes/No churn label driven by contract, tenure and charges with noise.

A simulated operator's lake (1,500 subscribers x 90 days), built once per session, and per test module a fresh
registry on SQLite and on PostgreSQL beside it: the lake lives in a home of its own, each registry in its database
with its artifacts in another home, so the lake is shared and never built twice."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl
import pytest

from questline.config import load_settings
from questline.runtime import Runtime

CONTRACTS = ["Month-to-month", "One year", "Two year"]
PAYMENTS = ["Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)"]
INTERNET = ["DSL", "Fiber optic", "No"]


def make_crm(rows: int = 3000, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    contract = rng.choice(3, rows, p=[0.55, 0.21, 0.24])
    tenure = np.clip(rng.gamma(1.2 + contract, 14), 0, 72).astype(int)
    tenure[rng.random(rows) < 0.01] = 0
    internet = rng.choice(3, rows, p=[0.35, 0.44, 0.21])
    monthly = np.round(np.where(internet == 2, 20, 45 + 35 * (internet == 1)) + rng.normal(0, 12, rows).clip(-15), 2)
    payment = rng.choice(4, rows, p=[0.34, 0.23, 0.22, 0.21])
    senior = (rng.random(rows) < 0.16).astype(int)
    logit = (
        -1.3
        + 1.6 * (contract == 0)
        - 1.0 * (contract == 2)
        - 0.045 * tenure
        + 0.025 * (monthly - 65)
        + 0.5 * (payment == 0)
        + 0.3 * senior
        + rng.normal(0, 0.4, rows)
    )
    churn = rng.random(rows) < 1 / (1 + np.exp(-logit))
    total = np.round(tenure * monthly * rng.uniform(0.95, 1.05, rows), 2).astype(str)
    total[(tenure == 0) | (rng.random(rows) < 0.003)] = " "  # blank cells, as real exports have them
    return pl.DataFrame(
        {
            "customerID": [f"{rng.integers(1000, 9999)}-{i:05d}X" for i in range(rows)],
            "gender": rng.choice(["Male", "Female"], rows),
            "SeniorCitizen": senior,
            "Partner": rng.choice(["Yes", "No"], rows),
            "tenure": tenure,
            "Contract": np.asarray(CONTRACTS)[contract],
            "InternetService": np.asarray(INTERNET)[internet],
            "PaymentMethod": np.asarray(PAYMENTS)[payment],
            "PaperlessBilling": np.where(rng.random(rows) < 0.6, "Yes", "No"),
            "MonthlyCharges": monthly,
            "TotalCharges": total,
            "Churn": np.where(churn, "Yes", "No"),
        }
    )


CrmFactory = Callable[..., pl.DataFrame]


@pytest.fixture(scope="session")
def crm() -> CrmFactory:
    """The export generator: `crm(rows=3000, seed=7)`."""
    return make_crm


@pytest.fixture
def crm_csv(tmp_path: Path) -> Path:
    path = tmp_path / "crm_export.csv"
    make_crm().write_csv(path)
    return path


class SimulatedLake(NamedTuple):
    path: Path  # the lake folder
    truth: dict[str, Any]  # churners (a set) and personas (subscriber -> persona)


@pytest.fixture(scope="session")
def simulated_lake(operators: Callable[..., Path]) -> SimulatedLake:
    """1,500 subscribers x 90 days, ingested and aggregated once for the session (about 20 s)."""
    from questline.scoring.daily import refresh_daily

    base = operators(1500, 90, 5)
    rt = Runtime.open(load_settings(home=base / "home", timezone="Europe/London"))
    refresh_daily(rt.lake, rt.events)
    rt.db.engine.dispose()
    truth = json.loads((base / "feeds" / "truth.json").read_text())
    return SimulatedLake(rt.settings.lake_path, {"churners": set(truth["churners"]), "personas": truth["personas"]})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lake(
    request: pytest.FixtureRequest,
    simulated_lake: SimulatedLake,
    tmp_path_factory: pytest.TempPathFactory,
    databases: Callable[[str, Path], AbstractContextManager[str]],
) -> Iterator[tuple[Runtime, dict[str, Any]]]:
    """A runtime on the simulated lake with an empty registry of its own, on SQLite and on PostgreSQL."""
    home = tmp_path_factory.mktemp(f"registry-{request.param}")
    with databases(request.param, home) as url:
        rt = Runtime.open(
            load_settings(home=home, lake=simulated_lake.path, database_url=url, timezone="Europe/London")
        )
        yield rt, simulated_lake.truth
        rt.db.engine.dispose()
