"""From an event posted to `/v1/events` to its progress in `GET /v1/subscribers/{id}/missions`, on the embedded
default (SQLite, local lake), with 10,000 other active missions in the database: the POST (validated, normalized,
written to the lake), one engine cycle (the new file folded into progress, committed), and the GET that shows the
mission completed. `questline run` starts a cycle every QUESTLINE_POLL_SECONDS; this measures a cycle's own work.

    .venv/bin/python bench/latency.py [--repeat 20] [--others 10000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from questline.api.keys import Scope, create
from questline.app import create_app
from questline.config import load_settings
from questline.engine.service import run_pending
from questline.kit.time import utcnow
from questline.missions import templates
from questline.models import Assignment
from questline.runtime import Runtime

STRUCTURED = "application/cloudevents+json"


def assign(rt: Runtime, subscribers: list[str]) -> None:
    """A First Call mission (one outgoing call) for each subscriber, running now."""
    first_call = templates.get(rt, "first_call")
    now = utcnow()
    rows = [
        {
            "subscriber_id": s,
            "mission_key": "first_call",
            "template_key": "first_call",
            "template_version": first_call.version,
            "category": first_call.category,
            "params": {"calls": 1},
            "starts_at": now - dt.timedelta(hours=1),
            "ends_at": now + dt.timedelta(days=7),
            "status": "active",
            "control": False,
            "completion": 0.5,
            "expected_value": 1.0,
            "reward_points": first_call.reward.points,
            "generated_as_of": now.date(),
        }
        for s in subscribers
    ]
    with rt.db.session() as session:
        session.execute(insert(Assignment), rows)


def call(subscriber: str, n: int) -> dict[str, object]:
    return {
        "specversion": "1.0",
        "id": f"latency-{n}",
        "source": "/bench",
        "type": "io.questline.voice_call",
        "subject": subscriber,
        "time": utcnow().isoformat(),
        "data": {"value": 60, "direction": "out"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--others", type=int, default=10_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="questline-latency-"))
    rt = Runtime.open(load_settings(home=home, timezone="Europe/London"))
    subscribers = [f"+4477009{n:05d}" for n in range(args.repeat)]
    assign(rt, subscribers + [f"+4477019{n:05d}" for n in range(args.others)])
    with rt.db.session() as session:
        headers = {"Authorization": f"Bearer {create(session, [Scope.INGEST, Scope.APP])}"}
    timings: dict[str, list[float]] = {"post": [], "cycle": [], "get": [], "total": []}
    with TestClient(create_app(rt)) as client:
        for n, subscriber in enumerate(subscribers):
            start = time.perf_counter()
            posted = client.post(
                "/v1/events", content=json.dumps(call(subscriber, n)), headers=headers | {"Content-Type": STRUCTURED}
            )
            assert posted.status_code < 300, posted.text
            after_post = time.perf_counter()
            run_pending(rt)
            after_cycle = time.perf_counter()
            shown = client.get(f"/v1/subscribers/{subscriber}/missions", headers=headers).json()
            done = time.perf_counter()
            assert shown[0]["status"] == "completed", shown
            for name, value in (("post", after_post - start), ("cycle", after_cycle - after_post),
                                ("get", done - after_cycle), ("total", done - start)):  # fmt: skip
                timings[name].append(value * 1000)
    for name, values in timings.items():
        print(f"{name}: median {statistics.median(values):.0f} ms, max {max(values):.0f} ms")


if __name__ == "__main__":
    main()
