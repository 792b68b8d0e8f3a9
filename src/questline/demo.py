"""`questline demo`: a synthetic operator end to end on the embedded default (SQLite + local lake)."""

from __future__ import annotations

import datetime as dt
import json
import time

import polars as pl
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from questline.api.keys import Scope, create
from questline.engine.leaderboards import top
from questline.engine.service import run_pending
from questline.engine.stats import stats as engine_stats
from questline.events.stats import stats
from questline.kit.time import utcnow
from questline.missions.service import run_generation
from questline.models import Assignment
from questline.pipeline.run import gamification_stage
from questline.runtime import Runtime
from questline.scoring import regions
from questline.scoring.config import SCORE_NAMES
from questline.scoring.service import run_scoring, snapshot
from questline.simulate import simulate
from questline.sources import service
from questline.sources.sync import files_of, sync


def run_demo(rt: Runtime, out: Console, *, subscribers: int, days: int, seed: int, serve: bool, port: int) -> None:
    feeds = rt.settings.home / "demo-operator"
    started = time.perf_counter()
    with out.status(f"simulating {subscribers:,} subscribers over {days} days"):
        simulate(feeds, subscribers=subscribers, days=days, seed=seed)
    out.print(f"simulated operator written to {feeds} in {time.perf_counter() - started:.1f}s")

    specs = service.load_document(feeds / "sources.yaml")
    with rt.db.session() as session:
        for spec in specs:
            service.save(session, spec)
        regions.replace(session, regions.read_csv(feeds / "regions.csv"))
    files = sum(len(files_of(s)) for s in specs)
    started = time.perf_counter()
    with out.status(f"ingesting {files} files from {len(specs)} sources"):
        results = sync(rt)
    elapsed = time.perf_counter() - started
    records = sum(r.records for r in results.values())
    out.print(f"ingested {records:,} records in {elapsed:.1f}s ({records / max(elapsed, 1e-9):,.0f} records/s)")
    truth = json.loads((feeds / "truth.json").read_text())
    _compare(out, stats(rt), truth)

    # Score and generate half way through the period, then play the second half through the engine.
    midway = dt.date(2026, 10, 1) + dt.timedelta(days=days // 2)
    started = time.perf_counter()
    with out.status("scoring: daily aggregates, features, five scores, segments, lifetime value, offers"):
        run = run_scoring(rt, midway)
    out.print(f"scored {run.subscribers:,} subscribers as of {run.as_of} in {time.perf_counter() - started:.1f}s")
    _scores_by_persona(out, rt, truth["personas"])

    started = time.perf_counter()
    with out.status("generating personal missions from 29 templates"):
        generation = run_generation(rt, midway)
    out.print(
        f"generated {generation.assigned:,} missions ({generation.control:,} held out as control groups) from "
        f"{generation.missions} concrete missions in {time.perf_counter() - started:.1f}s"
    )

    started = time.perf_counter()
    with out.status("playing the rest of the period through the engine: progress, completions, rewards"):
        engine = run_pending(rt)
        gamified = gamification_stage(rt, utcnow())
    out.print(
        f"folded {engine.events:,} events into progress in {engine.batches:,} batches: {engine.completed:,} missions "
        f"completed, {engine.expired:,} expired, {engine.rewards:,} rewards; "
        f"{gamified['badges']['awarded']:,} badge levels awarded ({time.perf_counter() - started:.1f}s)"
    )
    _missions_by_persona(out, rt, truth["personas"])
    _leaderboard(out, rt)
    out.print_json(data=engine_stats(rt))

    with rt.db.session() as session:
        key = create(session, [Scope.ADMIN], name="demo")
    if serve:
        _serve(rt, out, key, port)


def _compare(out: Console, found: dict[str, object], truth: dict[str, object]) -> None:
    table = Table(title="Lake against the simulator's ground truth")
    for column in ("kind", "events in lake", "truth"):
        table.add_column(column)
    expected: dict[str, int] = truth["events"]  # type: ignore[assignment]
    events: dict[str, int] = found["events"]  # type: ignore[assignment]
    for kind, n in events.items():
        table.add_row(kind, f"{n:,}", f"{expected.get(kind, 0):,}")
    table.add_row("rejects", f"{found['rejects']:,}", f"{truth['bad_rows']:,}")
    out.print(table)


def _scores_by_persona(out: Console, rt: Runtime, personas: dict[str, str]) -> None:
    """Mean scores per simulated persona, and the segments each persona fell into."""
    table = pl.DataFrame({"subscriber_id": list(personas), "persona": list(personas.values())})
    scores = snapshot(rt).collect().join(table, on="subscriber_id")
    means = scores.group_by("persona").agg(pl.len().alias("subscribers"), pl.col(SCORE_NAMES).mean().round(0))
    top = scores.group_by("persona", "segment").len().sort("len", descending=True).group_by("persona").first()
    view = Table(title="Mean scores by simulated persona (0-100)")
    for column in ("persona", "subscribers", *SCORE_NAMES, "main segment"):
        view.add_column(column)
    for row in means.join(top, on="persona").sort("persona").iter_rows(named=True):
        view.add_row(row["persona"], str(row["subscribers"]), *(f"{row[n]:.0f}" for n in SCORE_NAMES), row["segment"])
    out.print(view)


def _missions_by_persona(out: Console, rt: Runtime, personas: dict[str, str]) -> None:
    """Per persona: missions per subscriber, the share per category and the most given template."""
    with rt.db.session() as session:
        rows = session.execute(
            select(Assignment.subscriber_id, Assignment.template_key, Assignment.category, Assignment.status)
        ).all()
    given = pl.DataFrame(rows, schema=["subscriber_id", "template_key", "category", "status"], orient="row")
    table = pl.DataFrame({"subscriber_id": list(personas), "persona": list(personas.values())})
    given = given.join(table, on="subscriber_id")
    categories = ("onboarding", "engagement", "revenue", "loyalty", "correction")
    summary = (
        given.group_by("persona")
        .agg(
            (pl.len() / pl.col("subscriber_id").n_unique()).round(1).alias("per subscriber"),
            (pl.col("status") == "completed").mean().mul(100).round(0).alias("% completed"),
            *((pl.col("category") == c).mean().mul(100).round(0).alias(c) for c in categories),
            pl.col("template_key").mode().first().alias("most given"),
        )
        .sort("persona")
    )
    view = Table(title="Missions by simulated persona (% of each persona's missions per category)")
    for column in summary.columns:
        view.add_column(column)
    for row in summary.iter_rows():
        view.add_row(*(str(v) for v in row))
    out.print(view)


def _leaderboard(out: Console, rt: Runtime) -> None:
    for listing in (top(rt, "data_week", 5), top(rt, "data_week_region", 2)):
        view = Table(title=f"{listing.name}: {listing.start} to {listing.end}")
        for column in ("scope", "rank", "subscriber", "value"):
            view.add_column(column)
        for entry in listing.entries:
            value = f"{entry.value:,.2f} {listing.unit or ''}"
            view.add_row(entry.scope, str(entry.rank), entry.subscriber_id, value)
        out.print(view)


def _serve(rt: Runtime, out: Console, key: str, port: int) -> None:
    import uvicorn

    from questline.app import create_app

    base = f"http://127.0.0.1:{port}"
    out.print(f"\nAPI on {base} (OpenAPI at {base}/docs). An admin key for this demo:\n  {key}")
    out.print(f'  curl -H "Authorization: Bearer {key}" {base}/v1/events/stats')
    out.print(f'  curl -H "Authorization: Bearer {key}" {base}/v1/segments')
    out.print(f'  curl -H "Authorization: Bearer {key}" {base}/v1/missions')
    out.print(f'  curl -H "Authorization: Bearer {key}" {base}/v1/stats')
    uvicorn.run(create_app(rt), host="127.0.0.1", port=port, log_level="warning")
