"""The `questline` command. Bad input ends with one line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from questline.config import load_settings
from questline.events.schema import ATTRIBUTES
from questline.kit.errors import QuestlineError
from questline.kit.output import JsonFlag, out, print_table
from questline.missions.cli import missions_app, templates_app
from questline.ml.cli import ml_app
from questline.runtime import Runtime
from questline.scoring.cli import regions_app, score, segments_app, subscribers_app

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
sources_app = typer.Typer(no_args_is_help=True, help="Configure data sources and sync them.")
rejects_app = typer.Typer(no_args_is_help=True, help="Records that could not be normalized.")
events_app = typer.Typer(no_args_is_help=True, help="The normalized events in the lake.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys.")
app.add_typer(sources_app, name="sources")
app.add_typer(rejects_app, name="rejects")
app.add_typer(events_app, name="events")
app.add_typer(keys_app, name="keys")
app.add_typer(ml_app, name="ml")
app.add_typer(segments_app, name="segments")
app.add_typer(regions_app, name="regions")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(templates_app, name="templates")
app.add_typer(missions_app, name="missions")
app.command("score")(score)


class State:
    home: Path | None = None
    _runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime.open(load_settings(home=self.home))
        return self._runtime


state = State()


@app.callback()
def main_options(
    home: Annotated[
        Path | None, typer.Option("--home", help="Data directory (default: $QUESTLINE_HOME or ./.questline).")
    ] = None,
) -> None:
    """Questline: behaviour scores, missions and rewards from an operator's telco feeds."""
    state.home = home
    load_settings(home=home)  # fail at start-up on bad settings


@app.command()
def init() -> None:
    """Create the data directory, the database (migrated) and the lake."""
    rt = state.runtime
    rt.settings.lake_path.mkdir(parents=True, exist_ok=True)
    out.print(f"Questline home ready: {rt.settings.home}")


# ---- sources --------------------------------------------------------------------------------------------------------


@sources_app.command("add")
def sources_add(file: Annotated[Path, typer.Option("--file", "-f", help="YAML with `sources:`.")]) -> None:
    """Add sources from a YAML file, or update the ones already there."""
    from questline.sources import service

    specs = service.load_document(file)
    with state.runtime.db.session() as session:
        for spec in specs:
            row, new = service.save(session, spec)
            out.print(f"{'added' if new else 'updated'} source {spec.name} ({spec.kind.value}, version {row.version})")


@sources_app.command("list")
def sources_list(as_json: JsonFlag = False) -> None:
    """Every configured source with its checkpoint totals."""
    from questline.sources import service

    with state.runtime.db.session() as session:
        rows = service.summaries(session)
    _emit(rows, as_json, title="Sources")


@sources_app.command("show")
def sources_show(name: str, as_json: JsonFlag = False) -> None:
    """One source's whole configuration."""
    from questline.sources import service

    with state.runtime.db.session() as session:
        spec = service.get(session, name)
    document = spec.model_dump(mode="json", exclude_none=True)
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        import yaml

        out.print(yaml.safe_dump(document, sort_keys=False), end="")


@sources_app.command("test")
def sources_test(
    name: Annotated[str | None, typer.Argument(help="A saved source, or one in --file.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Try a YAML configuration before saving it.")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", help="Read this file instead of the first match.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Try a mapping: show the first normalized rows and the rejects with their reasons. Nothing is written."""
    from questline.sources.sync import files_of, normalize_file

    specs = _specs_to_try(name, file)
    report = []
    for spec in specs:
        files = [input_file] if input_file else files_of(spec)[:1]
        if not files:
            raise QuestlineError(f"source {spec.name}: no file matches {spec.location.files}", field="location.files")
        normalized = normalize_file(state.runtime, spec, files[0])
        report.append(
            {
                "source": spec.name,
                "file": str(files[0]),
                "events": normalized.events.height,
                "rejected": normalized.rejects.height,
                "filtered": normalized.filtered,
                "first_events": normalized.events.head(limit).to_dicts(),
                "first_rejects": normalized.rejects.head(limit).to_dicts(),
            }
        )
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    for item in report:
        out.print(
            f"[bold]{item['source']}[/] {item['file']}: {item['events']} events, "
            f"{item['rejected']} rejected, {item['filtered']} filtered"
        )
        print_table([_readable_event(row) for row in item["first_events"]], title="first events")
        print_table([_readable_reject(row) for row in item["first_rejects"]], title="first rejects")


def _specs_to_try(name: str | None, file: Path | None) -> list[Any]:
    from questline.sources import service

    if file is not None:
        specs = service.load_document(file)
        chosen = [s for s in specs if name in (None, s.name)]
        if not chosen:
            raise QuestlineError(f"{file} has no source named {name!r}", field="name")
        return chosen
    if name is None:
        raise QuestlineError("name a saved source or give --file", field="name")
    with state.runtime.db.session() as session:
        return [service.get(session, name)]


@sources_app.command("sync")
def sources_sync(
    name: Annotated[str | None, typer.Argument(help="One source (default: every enabled file source).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Read every file again (adds nothing already there).")] = False,
    due: Annotated[
        bool, typer.Option("--due", help="Only sources whose sync schedule has come round (for cron).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Ingest new and changed files of the sources."""
    from questline.kit.time import utcnow
    from questline.sources.sync import files_of, selected, sync

    due_at = utcnow() if due else None
    files = sum(len(files_of(spec)) for spec in selected(state.runtime, name, due_at=due_at))
    with _progress("syncing", files) as step:
        results = sync(state.runtime, name, force=force, due_at=due_at, on_file=lambda path, _: step(path.name))
    rows = [{"source": source, **result.as_dict()} for source, result in results.items()]
    _emit(rows, as_json, title="Sync")


@sources_app.command("remove")
def sources_remove(name: str) -> None:
    """Remove a source and its checkpoint (its events stay in the lake)."""
    from questline.sources import service

    with state.runtime.db.session() as session:
        service.remove(session, name)
    out.print(f"removed source {name}")


# ---- ingestion, rejects, events -------------------------------------------------------------------------------------


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Files in the source's format.")],
    source: Annotated[str, typer.Option("--source", "-s", help="The configured source they belong to.")],
    as_json: JsonFlag = False,
) -> None:
    """Ingest the given files with a source's format and mapping (already-ingested records add nothing)."""
    from questline.sources import service
    from questline.sources.sync import IngestResult, ingest_file

    with state.runtime.db.session() as session:
        spec = service.get(session, source)
    for path in files:
        if not path.is_file():
            raise QuestlineError(f"no such file: {path}", field="files")
    total = IngestResult()
    with _progress("ingesting", len(files)) as step:
        for path in files:
            total += ingest_file(state.runtime, spec, path, force=True)
            step(path.name)
    _emit([{"source": source, **total.as_dict()}], as_json, title="Ingest")


@rejects_app.command("list")
def rejects_list(
    source: Annotated[str | None, typer.Option("--source", "-s")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Rejected records: source, file and record, raw content, reason."""
    from questline.events import rejects

    with state.runtime.db.session() as session:
        rows = [r.as_dict() for r in rejects.listing(session, source=source, limit=limit, offset=offset)]
    _emit(rows, as_json, title="Rejects")


@events_app.command("stats")
def events_stats(as_json: JsonFlag = False) -> None:
    """Events in the lake per source kind, and rejects per source."""
    from questline.events.stats import stats

    result = stats(state.runtime)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    print_table([{"kind": k, "events": n} for k, n in result["events"].items()], title=f"Events ({result['total']})")
    print_table([{"source": s, "rejects": n} for s, n in result["rejects_by_source"].items()], title="Rejects")


# ---- simulator, keys, server, demo ----------------------------------------------------------------------------------


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the raw feeds, sources.yaml and truth.json.")],
    subscribers: Annotated[int, typer.Option(min=1)] = 1000,
    days: Annotated[int, typer.Option(min=1, max=366)] = 30,
    seed: Annotated[int, typer.Option()] = 1,
    as_json: JsonFlag = False,
) -> None:
    """Write a synthetic operator's raw feeds in their native formats, with their configuration and ground truth."""
    from questline.simulate import simulate as run

    with _progress("simulating") as step:
        truth = run(out_dir, subscribers=subscribers, days=days, seed=seed, progress=lambda d, t: step(done=d, of=t))
    summary = {"subscribers": truth.subscribers, "events": truth.events, "bad_rows": truth.bad_rows}
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        out.print(f"wrote {out_dir}: {summary}")


@keys_app.command("create")
def keys_create(
    scope: Annotated[list[str], typer.Option("--scope", help="ingest, admin or app; repeat for several.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Create an API key. It is shown once; only its hash is stored."""
    from questline.api.keys import Scope, create

    try:
        scopes = [Scope(s) for s in scope]
    except ValueError:
        raise QuestlineError(f"unknown scope in {scope}; use ingest, admin or app", field="scope") from None
    with state.runtime.db.session() as session:
        key = create(session, scopes, name)
    print(json.dumps({"key": key}) if as_json else key)


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes (one per core).")] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    import uvicorn

    state.runtime.db.engine.dispose()  # migrated once here, before the workers open the database
    if state.home is not None:
        os.environ["QUESTLINE_HOME"] = str(state.home)  # the workers read their settings from the environment
    uvicorn.run("questline.app:serving_app", factory=True, host=host, port=port, workers=workers, log_level="info")


@app.command()
def run(
    once: Annotated[bool, typer.Option("--once", help="Process everything pending, then exit.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Run the pipeline: sync sources on their schedules, fold new events into mission progress, score and
    generate missions daily (after QUESTLINE_DAILY_AT, local time), update streaks, badges and leaderboards.
    Stops cleanly on SIGTERM / Ctrl-C between batches."""
    from questline.pipeline.run import run_forever, run_once

    rt = state.runtime

    def report(cycle: dict[str, Any]) -> None:
        if as_json:
            print(json.dumps(cycle, default=str), flush=True)
            return
        engine = cycle["engine"]
        out.print(
            f"{sum(cycle['synced'].values()):,} new events; {engine['events']:,} folded into progress in "
            f"{engine['batches']} batches: {engine['completed']:,} missions completed, {engine['expired']:,} expired"
            + (f"; scored and generated missions as of {cycle['daily']['as_of']}" if "daily" in cycle else "")
        )

    if once:
        report(run_once(rt))
        return
    if not as_json:
        out.print(f"running every {rt.settings.poll_seconds:g}s; daily stage after {rt.settings.daily_at} local time")
    run_forever(rt, poll_seconds=rt.settings.poll_seconds, report=report)


@app.command("stats")
def engine_stats(as_json: JsonFlag = False) -> None:
    """Missions by status (shown and control), badges by level, streaks, rewards and points."""
    from questline.engine.stats import stats

    found = stats(state.runtime)
    if as_json:
        print(json.dumps(found, indent=2))
        return
    out.print(json.dumps(found, indent=2))


@app.command()
def demo(
    subscribers: Annotated[int, typer.Option(min=1)] = 10_000,
    days: Annotated[int, typer.Option(min=1, max=366)] = 30,
    seed: Annotated[int, typer.Option()] = 7,
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the API when done.")] = True,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """Simulate an operator, configure its sources, ingest every feed, show the figures, and serve the API."""
    from questline.demo import run_demo

    run_demo(state.runtime, out, subscribers=subscribers, days=days, seed=seed, serve=serve_api, port=port)


# ---- output helpers -------------------------------------------------------------------------------------------------


@contextmanager
def _progress(label: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr; the caller calls `step(description)` per unit of work done."""
    columns = (TextColumn(f"{label} {{task.description}}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("", total=total or None)

        def step(description: str = "", *, done: int | None = None, of: int | None = None) -> None:
            if done is None:
                progress.update(task, advance=1, description=description)
            else:
                progress.update(task, completed=done, total=of, description=description)

        yield step


def _emit(rows: list[dict[str, Any]], as_json: bool, *, title: str) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print_table(rows, title=title)


def _readable_event(row: dict[str, Any]) -> dict[str, Any]:
    """The fields a person checks when trying a mapping; attributes only where set."""
    shown = {"subscriber_id": row["subscriber_id"], "event_time": f"{row['event_time']:%Y-%m-%d %H:%M:%S}"}
    value = f"{row['value']:,.3f}".rstrip("0").rstrip(".")
    shown |= {"event_type": row["event_type"], "value": f"{value} {row['unit']}"}
    attributes = [f"{k}={v}" for k, v in row.items() if k in ATTRIBUTES and v is not None]
    return shown | {"attributes": " ".join(attributes)}


def _readable_reject(row: dict[str, Any]) -> dict[str, Any]:
    raw = str(row["raw"])
    return {"record": row["record"], "reason": row["reason"], "raw": raw if len(raw) <= 80 else raw[:77] + "..."}


def main() -> None:
    """Run the CLI; turn every expected failure into one line on stderr."""
    try:
        app(standalone_mode=False)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: unknown command, bad option value
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except QuestlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
