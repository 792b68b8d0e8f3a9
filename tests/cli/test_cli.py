"""The `questline` command end to end, as a user runs it: a real process, real files, exit codes and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


def questline(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUESTLINE_")}
    done = subprocess.run(
        [sys.executable, "-m", "questline", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def test_configure_sync_and_inspect(cdr_feed: Path) -> None:
    home = cdr_feed / "home"
    questline(home, "init")
    assert (
        "added source mediation" in questline(home, "sources", "add", "--file", str(cdr_feed / "sources.yaml")).stdout
    )
    listed = json.loads(questline(home, "sources", "list", "--json").stdout)
    assert [(s["name"], s["format"]) for s in listed] == [("mediation", "csv")]
    shown = json.loads(questline(home, "sources", "show", "mediation", "--json").stdout)
    assert shown["mapping"]["natural_key"] == ["id"]

    synced = json.loads(questline(home, "sources", "sync", "--json").stdout)
    assert synced[0] | {"source": "mediation"} == synced[0]
    assert (synced[0]["events"], synced[0]["rejected"]) == (3, 2)
    again = json.loads(questline(home, "sources", "sync", "--force", "--json").stdout)
    assert (again[0]["events"], again[0]["duplicates"]) == (0, 3)

    stats = json.loads(questline(home, "events", "stats", "--json").stdout)
    assert stats["events"]["cdr"] == 3 and stats["rejects"] == 2
    rejects = json.loads(questline(home, "rejects", "list", "--json").stdout)
    assert rejects[0]["reason"] == "event_type: unknown code 'BAD'"
    assert rejects[0]["record"] == 2

    questline(home, "sources", "remove", "mediation")
    assert json.loads(questline(home, "sources", "list", "--json").stdout) == []


def test_ingest_named_files(cdr_feed: Path) -> None:
    home = cdr_feed / "home"
    questline(home, "sources", "add", "--file", str(cdr_feed / "sources.yaml"))
    result = json.loads(
        questline(home, "ingest", "--source", "mediation", str(cdr_feed / "cdr" / "day1.csv"), "--json").stdout
    )
    assert (result[0]["events"], result[0]["rejected"]) == (2, 1)


def test_sources_test_tries_a_mapping_without_saving_it(cdr_feed: Path) -> None:
    home = cdr_feed / "home"
    report = json.loads(questline(home, "sources", "test", "--file", str(cdr_feed / "sources.yaml"), "--json").stdout)
    assert (report[0]["events"], report[0]["rejected"]) == (2, 1)
    assert report[0]["first_rejects"][0]["reason"] == "event_type: unknown code 'BAD'"
    assert report[0]["first_events"][0]["subscriber_id"] == "+447700900001"
    assert json.loads(questline(home, "sources", "list", "--json").stdout) == []


def test_keys_are_printed_once_as_json(tmp_path: Path) -> None:
    key = json.loads(questline(tmp_path, "keys", "create", "--scope", "ingest", "--json").stdout)["key"]
    assert key.startswith("ql_") and len(key) > 30


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["sources", "show", "nope"], "no source named 'nope'"),
        (["sources", "add", "--file", "missing.yaml"], "cannot read missing.yaml"),
        (["keys", "create", "--scope", "root"], "unknown scope"),
        (["simulate", "--subscribers", "0", "--out", "x"], "--subscribers"),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    done = questline(tmp_path, *args, ok=False)
    assert done.returncode != 0
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_bad_mapping_is_refused_with_the_field(cdr_feed: Path) -> None:
    broken = yaml.safe_load((cdr_feed / "sources.yaml").read_text())
    broken["sources"][0]["mapping"]["attributes"] = {"colour": "a"}
    (cdr_feed / "broken.yaml").write_text(yaml.safe_dump(broken))
    done = questline(cdr_feed / "home", "sources", "add", "--file", str(cdr_feed / "broken.yaml"), ok=False)
    assert "unknown attribute 'colour'" in done.stderr and "mapping.attributes" in done.stderr


def test_invalid_setting_fails_at_start_up(tmp_path: Path) -> None:
    env = {**os.environ, "QUESTLINE_TIMEZONE": "Nowhere/Land"}
    done = subprocess.run(
        [sys.executable, "-m", "questline", "--home", str(tmp_path), "init"], capture_output=True, text=True, env=env
    )
    assert done.returncode != 0
    assert (
        done.stderr.strip()
        == "error: invalid setting QUESTLINE_TIMEZONE: Value error, unknown time zone 'Nowhere/Land'"
    )


def test_every_command_has_help(tmp_path: Path) -> None:
    for command in (
        ["sources"],
        ["sources", "sync"],
        ["rejects", "list"],
        ["events", "stats"],
        ["keys", "create"],
        ["simulate"],
        ["serve"],
        ["demo"],
        ["ingest"],
        ["init"],
    ):
        assert "Usage" in questline(tmp_path, *command, "--help").stdout


def test_demo_simulates_ingests_and_matches_the_truth(tmp_path: Path) -> None:
    done = questline(tmp_path, "demo", "--subscribers", "300", "--days", "5", "--no-serve")
    assert "rejects" in done.stdout
    truth = json.loads((tmp_path / "demo-operator" / "truth.json").read_text())
    stats = json.loads(questline(tmp_path, "events", "stats", "--json").stdout)
    assert stats["events"] == truth["events"] and stats["rejects"] == truth["bad_rows"]

    run = json.loads(questline(tmp_path, "score", "--json").stdout)
    assert run["subscribers"] == truth["subscribers"] and run["days_rebuilt"] == 0  # the demo scored already
    segments = json.loads(questline(tmp_path, "segments", "list", "--json").stdout)
    assert sum(s["sizes"][0]["size"] for s in segments) == truth["subscribers"]
    assert "Champions" in questline(tmp_path, "segments", "show", "champions").stdout
    someone = next(iter(truth["personas"]))
    profile = json.loads(questline(tmp_path, "subscribers", "show", someone, "--json").stdout)
    assert set(profile["scores"]) == {"engagement", "revenue", "loyalty", "risk", "digital"}
    assert "moved most by" in questline(tmp_path, "subscribers", "show", someone).stdout
    missing = questline(tmp_path, "subscribers", "show", "+440000000000", ok=False)
    assert missing.returncode != 0 and "no scores for subscriber" in missing.stderr


def test_serve_answers_over_http_from_two_workers(tmp_path: Path) -> None:
    import socket
    import time

    import httpx

    key = json.loads(questline(tmp_path, "keys", "create", "--scope", "ingest", "--json").stdout)["key"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUESTLINE_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "questline", "--home", str(tmp_path), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):  # bounded wait for start-up
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        event = {
            "specversion": "1.0",
            "id": "e2e-1",
            "source": "/selfcare",
            "type": "io.questline.app_login",
            "subject": "+447700900123",
            "time": "2026-11-03T14:05:00Z",
        }
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents+json"}
        for n in range(1, 9):  # connections spread over both workers, each with its own database connections
            sent = json.dumps(event | {"id": f"e2e-{n}"})
            answer = httpx.post(f"{base}/v1/events", content=sent, headers=headers, timeout=10)
            assert answer.status_code == 200 and answer.json()["accepted"] == 1
        assert httpx.get(f"{base}/openapi.json", timeout=10).json()["info"]["title"] == "Questline"
    finally:
        server.terminate()
        server.wait(timeout=10)
