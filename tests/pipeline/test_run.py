"""`questline run --once` end to end, as an operator runs it: a simulated operator scored and given missions half way
through its period, then the rest of the period played through the pipeline - missions complete for the personas who
do the behaviour, badges and streaks appear, leaderboards rank - and a replay of every source changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from questline.config import load_settings
from questline.engine.leaderboards import top
from questline.runtime import Runtime
from questline.scoring.daily import scan_daily
from questline.scoring.service import snapshot

MIDWAY = "2026-10-14"


def questline(home: Path, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUESTLINE_")} | {
        "QUESTLINE_TIMEZONE": "Europe/London"
    }
    done = subprocess.run(
        [sys.executable, "-m", "questline", "--home", str(home), *args], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--json" in args else done.stdout


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    base = tmp_path_factory.mktemp("run")
    home, feeds = base / "home", base / "feeds"
    questline(home, "simulate", "--subscribers", "800", "--days", "35", "--seed", "9", "--out", str(feeds))
    questline(home, "sources", "add", "--file", str(feeds / "sources.yaml"))
    questline(home, "sources", "sync")
    questline(home, "regions", "load", str(feeds / "regions.csv"))
    questline(home, "score", "--as-of", MIDWAY)
    questline(home, "missions", "generate", "--as-of", MIDWAY)
    cycle = questline(home, "run", "--once", "--json")
    return home, feeds, cycle


def test_run_once_plays_the_period(played: tuple[Path, Path, dict[str, Any]]) -> None:
    home, _, cycle = played
    assert cycle["engine"]["events"] > 100_000 and cycle["engine"]["completed"] > 100
    assert cycle["daily"]["as_of"] == "2026-11-04"  # the latest day had no scoring run: scored, missions generated
    stats = questline(home, "stats", "--json")
    assert stats["missions"]["completed"] > 100 and stats["missions"]["expired"] > 0
    assert stats["badges"]["bronze"] > 0 and stats["rewards"]["points"] > 0
    assert stats["streaks"] and max(s["longest"] for s in stats["streaks"].values()) >= 7


def test_completions_follow_the_personas(played: tuple[Path, Path, dict[str, Any]]) -> None:
    home, feeds, _ = played
    personas = json.loads((feeds / "truth.json").read_text())["personas"]
    rt = Runtime.open(load_settings(home=home, timezone="Europe/London"))
    with rt.db.engine.connect() as connection:
        given = pl.read_database(
            "select subscriber_id, template_key, status from assignments where not control", connection
        )
    rt.db.engine.dispose()
    table = pl.DataFrame({"subscriber_id": list(personas), "persona": list(personas.values())})
    rate = (
        given.join(table, on="subscriber_id")
        .group_by("persona", "template_key")
        .agg((pl.col("status") == "completed").mean().alias("done"), pl.len())
    )
    feature = dict(rate.filter(pl.col("template_key") == "feature_adoption").select("persona", "done").iter_rows())
    assert feature.get("digital_native", 0) > feature.get("voice_centric", 0)
    overall = given.join(table, on="subscriber_id").group_by("persona").agg((pl.col("status") == "completed").mean())
    assert dict(overall.iter_rows())["declining"] == overall.get_column("status").min()


def test_leaderboards_rank_by_the_period_sum(played: tuple[Path, Path, dict[str, Any]]) -> None:
    home, _, _ = played
    rt = Runtime.open(load_settings(home=home, timezone="Europe/London"))
    listing = top(rt, "data_week", 5)
    start, end = listing.start, listing.end
    week = scan_daily(rt.lake).filter(pl.col("date").is_between(start, end))
    sums = week.group_by("subscriber_id").agg(pl.col("data_bytes").sum()).sort("data_bytes", descending=True)
    best = sums.head(5).collect().get_column("subscriber_id").to_list()
    rt.db.engine.dispose()
    assert [e.subscriber_id for e in listing.entries] == best
    assert [e.rank for e in listing.entries] == [1, 2, 3, 4, 5]


def test_regional_boards_rank_within_the_home_region(played: tuple[Path, Path, dict[str, Any]]) -> None:
    home, feeds, _ = played
    truth = json.loads((feeds / "truth.json").read_text())["regions"]
    rt = Runtime.open(load_settings(home=home, timezone="Europe/London"))
    regions = snapshot(rt).select("subscriber_id", "region").collect()
    listing = top(rt, "data_week_region", 3)
    week = scan_daily(rt.lake).filter(pl.col("date").is_between(listing.start, listing.end))
    sums = week.group_by("subscriber_id").agg(pl.col("data_bytes").sum())
    sums = sums.join(regions.lazy().drop_nulls(), on="subscriber_id")
    best = sums.sort("data_bytes", "subscriber_id", descending=[True, False]).group_by("region", maintain_order=True)
    expected = best.head(3).sort("region", maintain_order=True).collect()
    rt.db.engine.dispose()
    placed = regions.drop_nulls().filter(pl.col("subscriber_id").is_in(list(truth)))
    matches = placed.filter(pl.col("region") == pl.col("subscriber_id").replace_strict(truth)).height
    assert matches >= 0.95 * placed.height and placed.height >= 0.9 * len(truth)
    assert len({e.scope for e in listing.entries}) >= 2
    assert [(e.scope, e.subscriber_id) for e in listing.entries] == expected.select("region", "subscriber_id").rows()


def test_a_replay_of_every_source_changes_nothing(played: tuple[Path, Path, dict[str, Any]]) -> None:
    home, _, _ = played
    before = questline(home, "stats", "--json")
    synced = questline(home, "sources", "sync", "--force", "--json")
    assert sum(s["events"] for s in synced) == 0
    again = questline(home, "run", "--once", "--json")
    assert again["engine"]["events"] == 0 and "daily" not in again
    assert questline(home, "stats", "--json") == before


def test_run_stops_cleanly_on_sigterm(played: tuple[Path, Path, dict[str, Any]]) -> None:
    home, _, _ = played
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUESTLINE_")}
    env |= {"QUESTLINE_TIMEZONE": "Europe/London", "QUESTLINE_POLL_SECONDS": "0.2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "questline", "--home", str(home), "run", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())  # a whole cycle has run
    assert first["engine"]["events"] == 0
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
