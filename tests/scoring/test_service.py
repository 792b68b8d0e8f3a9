"""Scoring runs end to end on a simulated operator: scores agree with the personas, each run keeps a snapshot, the
current values, segment sizes and `score.changed` events — on SQLite and PostgreSQL — and the API serves them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from questline.api.keys import Scope, create
from questline.app import create_app
from questline.models import OutboxEvent, SegmentSize, SubscriberScore
from questline.runtime import Runtime
from questline.scoring.service import run_scoring, snapshot
from questline.simulate import simulate
from questline.sources import service
from questline.sources.sync import sync

SCORES = ["engagement", "revenue", "loyalty", "risk", "digital"]


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("operator")
    simulate(out, subscribers=1600, days=28, seed=5)
    return out


@pytest.fixture
def ingested(rt: Runtime, operator: Path) -> Runtime:
    with rt.db.session() as session:
        for spec in service.load_document(operator / "sources.yaml"):
            service.save(session, spec)
    sync(rt)
    return rt


def by_persona(rt: Runtime, operator: Path) -> pl.DataFrame:
    personas = json.loads((operator / "truth.json").read_text())["personas"]
    table = pl.DataFrame({"subscriber_id": list(personas), "persona": list(personas.values())})
    scores = snapshot(rt).collect().join(table, on="subscriber_id")
    return scores.group_by("persona").agg(pl.col(SCORES).mean())


def test_scores_agree_with_the_personas(ingested: Runtime, operator: Path) -> None:
    run = run_scoring(ingested)
    # no model version active: lifetime value and offers are computed at the run (ml/ltv.yaml, ml/nbo.yaml)
    assert (run.churn_model, run.ltv_model, run.nbo_model) == (None, None, None)
    offers = snapshot(ingested, "offers").collect()
    assert offers["subscriber_id"].n_unique() > 1000 and offers["rank"].max() == 3
    means = by_persona(ingested, operator)

    def leader(score: str) -> str:
        return str(means.sort(score, descending=True).item(0, "persona"))

    assert leader("digital") == "digital_native"
    assert leader("risk") == "declining"
    personas = json.loads((operator / "truth.json").read_text())["personas"]
    assert leader("revenue") == _biggest_spenders(ingested, personas)


def _biggest_spenders(rt: Runtime, personas: dict[str, str]) -> str:
    table = pl.DataFrame({"subscriber_id": list(personas), "persona": list(personas.values())})
    spend = (
        rt.events.scan()
        .filter(pl.col("source_kind") == "billing")
        .group_by("subscriber_id")
        .agg(pl.col("value").sum().alias("spend"))
        .collect()
        .join(table, on="subscriber_id", how="right")
        .group_by("persona")
        .agg(pl.col("spend").fill_null(0).mean())
    )
    return str(spend.sort("spend", descending=True).item(0, "persona"))


def test_each_run_keeps_snapshot_current_values_sizes_and_band_changes(ingested: Runtime) -> None:
    latest = run_scoring(ingested).as_of
    week_before = run_scoring(ingested, latest - dt.timedelta(days=7))
    assert week_before.band_changes == 0  # nothing earlier to compare with
    with ingested.db.session() as session:
        assert session.scalar(select(func.min(SubscriberScore.as_of))) == latest  # a past run leaves current alone
    again = run_scoring(ingested, latest)
    assert again.band_changes > 0  # a week later some subscribers crossed a band
    assert run_scoring(ingested, latest).band_changes == 0  # the same day again emits nothing new

    current = snapshot(ingested).collect()
    with ingested.db.session() as session:
        stored = session.scalar(select(func.count()).select_from(SubscriberScore))
        query = select(SegmentSize.segment, SegmentSize.size).where(SegmentSize.as_of == latest)
        sizes = {segment: size for segment, size in session.execute(query)}
        events = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "score.changed")).all()
    assert stored == current.height == sum(sizes.values())
    assert sizes == dict(current.group_by("segment").len().iter_rows()) | {k: 0 for k in sizes if sizes[k] == 0}
    assert len(events) == again.band_changes
    assert {e.data["score"] for e in events} <= set(SCORES)
    assert all(e.data["from"] != e.data["to"] for e in events)


def test_scores_segments_and_models_over_http(ingested: Runtime) -> None:
    run_scoring(ingested)
    someone = snapshot(ingested).collect().item(0, "subscriber_id")
    with ingested.db.session() as session:
        app = {"Authorization": f"Bearer {create(session, [Scope.APP])}"}
        admin = {"Authorization": f"Bearer {create(session, [Scope.ADMIN])}"}
    with TestClient(create_app(ingested)) as client:
        profile = client.get(f"/v1/subscribers/{someone}", headers=app).json()
        assert set(profile["scores"]) == set(SCORES)
        assert all(0 <= s["value"] <= 100 and len(s["explanation"]) == 3 for s in profile["scores"].values())
        assert profile["segment"] and profile["lifetime_value"] >= 0
        assert client.get("/v1/subscribers/+440000000000", headers=app).status_code == 404
        assert client.get("/v1/scores/distribution", headers=app).status_code == 403
        histogram = client.get("/v1/scores/distribution", headers=admin).json()["scores"]["digital"]["histogram"]
        assert sum(b["subscribers"] for b in histogram) == snapshot(ingested).collect().height
        segments = client.get("/v1/segments", headers=admin).json()
        assert {"new", "dormant", "at_risk", "champions", "loyal", "potential"} <= {s["name"] for s in segments}
        assert client.get("/v1/models", headers=admin).json() == []
