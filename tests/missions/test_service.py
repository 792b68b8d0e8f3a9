"""Generation end to end on a simulated operator, on SQLite and PostgreSQL: every eligible subscriber gets missions
within the caps, control groups hold their share, targets are personal, dry runs assign nothing, a second run adds
nothing; templates are versioned in the database; the CLI and the API serve it all."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from questline.api.keys import Scope, create
from questline.app import create_app
from questline.config import load_settings
from questline.kit.errors import Conflict, Invalid, NotFound
from questline.missions import templates
from questline.missions.generator import candidates
from questline.missions.history import stat_column
from questline.missions.service import build_profiles, concrete_missions, policy_of, run_generation
from questline.models import Assignment, Mission
from questline.runtime import Runtime
from questline.scoring.service import OFFERS, run_scoring, snapshot


@pytest.fixture(scope="module")
def operator(operators: Callable[..., Path]) -> Path:
    """A simulated operator (1,200 subscribers x 35 days), ingested and scored once; each test brings its own
    database and reads the operator's lake."""
    base = operators(1200, 35, 11)
    rt = Runtime.open(load_settings(home=base / "home", timezone="Europe/London"))
    run_scoring(rt)
    rt.db.engine.dispose()
    return base


@pytest.fixture
def ops(operator: Path, on_lake: Callable[[Path], Runtime]) -> Runtime:
    return on_lake(operator)


def assignments(rt: Runtime) -> pl.DataFrame:
    with rt.db.session() as session:
        rows = session.execute(
            select(
                Assignment.subscriber_id,
                Assignment.mission_key,
                Assignment.template_key,
                Assignment.template_version,
                Assignment.category,
                Assignment.control,
                Assignment.params,
            )
        ).all()
    return pl.DataFrame(
        [(*r[:6], json.dumps(r[6])) for r in rows],
        schema=["subscriber_id", "mission_key", "template_key", "template_version", "category", "control", "params"],
        orient="row",
    )


def test_every_eligible_subscriber_gets_missions_within_the_caps(ops: Runtime) -> None:
    run = run_generation(ops)
    given = assignments(ops)
    assert run.assigned == given.height > 1000
    per_subscriber = given.group_by("subscriber_id").agg(pl.len(), pl.col("category").value_counts())
    assert per_subscriber.get_column("len").max() <= ops.settings.max_active_missions
    per_category = given.group_by("subscriber_id", "category").len()
    assert per_category.get_column("len").max() <= ops.settings.max_missions_per_category
    # who could get at least one mission got at least one
    scores = snapshot(ops).collect()
    offers = snapshot(ops, OFFERS).collect()
    catalogue = templates.current(ops)
    missions = concrete_missions(catalogue, offers)
    profiles = build_profiles(ops, scores, catalogue, run.as_of)
    possible = candidates(profiles, offers, missions, as_of=run.as_of, timezone="Europe/London", policy=policy_of(ops))
    could = set(profiles.get_column("subscriber_id").gather(possible.get_column("subscriber").unique()))
    assert could == set(given.get_column("subscriber_id"))
    assert len(set(given.get_column("template_key"))) >= 20  # the catalogue is used, not one favourite


def test_control_groups_hold_their_configured_share(ops: Runtime) -> None:
    run_generation(ops)
    given = assignments(ops)
    shares = given.group_by("template_key").agg(pl.len(), pl.col("control").mean().alias("share"))
    large = shares.filter(pl.col("len") >= 50)
    assert large.height >= 10
    assert large.get_column("share").is_between(0.09, 0.11).all()
    assert abs(given.get_column("control").mean() - ops.settings.control_share) <= 0.01  # type: ignore[operator]


def test_light_and_heavy_subscribers_get_different_thresholds(ops: Runtime) -> None:
    run_generation(ops)
    given = assignments(ops).filter(pl.col("template_key") == "recharge_threshold")
    amounts = given.with_columns(pl.col("params").str.json_path_match("$.amount").cast(pl.Float64).alias("amount"))
    recharge = next(t for t in templates.current(ops) if t.key == "recharge_threshold")
    profiles = build_profiles(ops, snapshot(ops).collect(), [recharge], snapshot(ops).collect().item(0, "as_of"))
    history = profiles.select("subscriber_id", pl.col(stat_column(recharge.personalise["amount"])).alias("typical"))
    joined = amounts.join(history, on="subscriber_id").sort("typical")
    light, heavy = joined.row(0, named=True), joined.row(-1, named=True)
    assert light["typical"] < heavy["typical"]
    assert light["amount"] < heavy["amount"]


def test_a_dry_run_reports_without_assigning_and_a_second_run_adds_nothing(ops: Runtime) -> None:
    dry = run_generation(ops, dry_run=True)
    assert assignments(ops).is_empty()
    assert dry.assigned > 0 and sum(m["subscribers"] + m["control"] for m in dry.by_mission) == dry.assigned
    assert all(m["expected_reward_cost"] >= 0 for m in dry.by_mission)
    real = run_generation(ops)
    assert real.assigned == dry.assigned
    again = run_generation(ops)
    assert again.assigned == 0 and assignments(ops).height == real.assigned


def test_concrete_missions_record_their_template_version(ops: Runtime) -> None:
    run_generation(ops)
    with ops.db.session() as session:
        missions = session.scalars(select(Mission).where(Mission.active)).all()
        assert len(missions) >= 250
        streak = session.get(Mission, "daily_usage_streak:segment=loyal,days=5")
        assert streak is not None and streak.template_version == 1 and streak.params["days"] == 5


def test_templates_are_versioned_and_validated(ops: Runtime) -> None:
    document = templates.get(ops, "on_time_payment").model_dump(mode="json", exclude_none=True)
    assert templates.save(ops, document).outcome == "unchanged"
    document["description"] = "Pay your bill by its due date."
    saved = templates.save(ops, document)
    assert (saved.outcome, saved.template.version) == ("updated", 2)
    assert [v["version"] for v in templates.history(ops, "on_time_payment")] == [2, 1]
    with pytest.raises(Conflict):
        templates.save(ops, document, create=True)
    with pytest.raises(NotFound):
        templates.save(ops, document | {"key": "nope"}, create=False)
    with pytest.raises(Invalid) as bad:
        templates.save(ops, document | {"description": "Pay {amount} on time"})
    assert bad.value.field == "template.on_time_payment.description"
    run_generation(ops)
    given = assignments(ops).filter(pl.col("template_key") == "on_time_payment")
    assert not given.is_empty() and set(given.get_column("template_version")) == {2}


# ---- CLI and API ---------------------------------------------------------------------------------------------------


def questline(home: Path, lake: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUESTLINE_")}
    env |= {"QUESTLINE_LAKE": str(lake), "QUESTLINE_TIMEZONE": "Europe/London"}
    done = subprocess.run(
        [sys.executable, "-m", "questline", "--home", str(home), *args], capture_output=True, text=True, env=env
    )
    assert (done.returncode == 0) == ok, done.stderr
    return done


def test_the_cli(operator: Path, tmp_path: Path) -> None:
    home, lake = tmp_path / "home", operator / "home" / "lake"
    listed = json.loads(questline(home, lake, "templates", "list", "--json").stdout)
    assert len(listed) >= 25 and len({t["category"] for t in listed}) == 5
    shown = json.loads(questline(home, lake, "templates", "show", "recharge_threshold", "--json").stdout)
    assert shown["personalise"]["amount"]["quantile"] == 0.6 and shown["versions"][0]["version"] == 1

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump([{**shown, "key": "mine", "category": "fun"}]))
    failed = questline(home, lake, "templates", "validate", str(bad), ok=False)
    assert failed.stderr.strip().splitlines() == [
        "error: templates.0.mine.category: Input should be 'onboarding', 'engagement', 'revenue', 'loyalty' or "
        "'correction'"
    ]
    good = tmp_path / "good.yaml"
    del shown["versions"]
    good.write_text(yaml.safe_dump([{**shown, "key": "mine", "name": "Mine"}]))
    assert "1 valid template(s): mine" in questline(home, lake, "templates", "validate", str(good)).stdout
    added = json.loads(questline(home, lake, "templates", "add", str(good), "--json").stdout)
    assert added == [{"key": "mine", "version": 1, "outcome": "created"}]

    dry = json.loads(questline(home, lake, "missions", "generate", "--dry-run", "--json").stdout)
    assert dry["dry_run"] and dry["assigned"] > 0
    assert json.loads(questline(home, lake, "missions", "list", "--json").stdout)[0]["active_assignments"] == 0
    done = json.loads(questline(home, lake, "missions", "generate", "--json").stdout)
    assert done["assigned"] == dry["assigned"]
    missions = json.loads(questline(home, lake, "missions", "list", "--json").stdout)
    assert sum(m["active_assignments"] + m["control_assignments"] for m in missions) == done["assigned"]
    late = questline(home, lake, "missions", "generate", "--as-of", "2030-01-01", ok=False)
    assert "as_of" in late.stderr and len(late.stderr.strip().splitlines()) == 1


def test_the_api(ops: Runtime) -> None:
    with ops.db.session() as session:
        app = {"Authorization": f"Bearer {create(session, [Scope.APP])}"}
        admin = {"Authorization": f"Bearer {create(session, [Scope.ADMIN])}"}
    with TestClient(create_app(ops)) as client:
        listed = client.get("/v1/templates", headers=admin).json()
        assert len(listed) >= 25
        assert client.get("/v1/templates", headers=app).status_code == 403
        document: dict[str, Any] = client.get("/v1/templates/referral_mission", headers=admin).json()
        created = client.post("/v1/templates", headers=admin, json=document | {"key": "refer_two"})
        assert created.status_code == 201 and created.json()["version"] == 1
        assert client.post("/v1/templates", headers=admin, json=document).status_code == 409
        mismatch = client.put("/v1/templates/refer_two", headers=admin, json=document)
        assert mismatch.status_code == 422 and mismatch.json()["field"] == "key"
        document["key"] = "refer_two"
        changed = client.put("/v1/templates/refer_two", headers=admin, json=document | {"priority": 99})
        assert changed.json()["version"] == 2 and changed.json()["outcome"] == "updated"
        wrong = client.put("/v1/templates/refer_two", headers=admin, json=document | {"duration_days": 0})
        assert wrong.status_code == 422 and wrong.json()["field"] == "template.refer_two.duration_days"

        dry = client.post("/v1/missions/generate?dry_run=true", headers=admin).json()
        assert dry["dry_run"] and client.get("/v1/missions", headers=admin).json()[0]["active_assignments"] == 0
        assert client.post("/v1/missions/generate", headers=app).status_code == 403
        run = client.post("/v1/missions/generate", headers=admin).json()
        assert run["assigned"] == dry["assigned"]

        given = assignments(ops)
        shown = given.filter(~pl.col("control")).item(0, "subscriber_id")
        mine = client.get(f"/v1/subscribers/{shown}/missions", headers=app).json()
        assert mine and all(m["description"] and "{" not in m["description"] for m in mine)
        assert {m["mission"] for m in mine} <= set(given.filter(pl.col("subscriber_id") == shown)["mission_key"])
        key = given.filter(pl.col("mission_key") == mine[0]["mission"]).item(0, "template_key")
        newer = client.get(f"/v1/templates/{key}", headers=admin).json() | {"name": "Renamed", "description": "New"}
        assert client.put(f"/v1/templates/{key}", headers=admin, json=newer).json()["outcome"] == "updated"
        again = client.get(f"/v1/subscribers/{shown}/missions", headers=app).json()
        assert again == mine  # described by the version each mission was made from, not the newest
        held_out = given.filter(pl.col("control"))
        hidden = held_out.item(0, "subscriber_id")
        visible = {m["mission"] for m in client.get(f"/v1/subscribers/{hidden}/missions", headers=app).json()}
        control_keys = set(held_out.filter(pl.col("subscriber_id") == hidden)["mission_key"])
        assert not visible & control_keys
    with ops.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Assignment)) == run["assigned"]
    assert dt.date.fromisoformat(run["as_of"])


def test_missions_follow_the_personas(ops: Runtime, operator: Path) -> None:
    run_generation(ops)
    personas = json.loads((operator / "feeds" / "truth.json").read_text())["personas"]
    table = pl.DataFrame({"subscriber_id": list(personas), "persona": list(personas.values())})
    given = assignments(ops).join(table, on="subscriber_id")
    share = given.group_by("persona").agg(
        (pl.col("category") == "correction").mean().alias("correction"),
        (pl.col("template_key") == "app_installation").mean().alias("install"),
        (pl.col("template_key") == "roaming_usage").mean().alias("roaming"),
    )
    by = {row["persona"]: row for row in share.iter_rows(named=True)}
    # subscribers about to leave get correction missions far more often than the average subscriber
    assert by["declining"]["correction"] > 2 * by["average"]["correction"]
    # who already uses the app is not asked to install it; who travels is asked to use roaming data
    assert by["digital_native"]["install"] < by["voice_centric"]["install"]
    assert by["roamer"]["roaming"] == max(row["roaming"] for row in by.values())
