"""`questline score`, `questline segments …` and `questline subscribers show`, mounted by the main command."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from questline.kit.output import JsonFlag, out, print_table

segments_app = typer.Typer(no_args_is_help=True, help="Segments: rules over scores, ML scores and attributes.")
regions_app = typer.Typer(no_args_is_help=True, help="Regions: the operator's map from location areas to regions.")
subscribers_app = typer.Typer(no_args_is_help=True, help="One subscriber's scores, segment and offers.")


def _runtime() -> Any:
    from questline.cli import state  # imported late: questline.cli mounts this module

    return state.runtime


def score(
    as_of: Annotated[
        dt.datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="Local date (default: latest day).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Recompute daily aggregates (only days that changed), features, the five scores, ML scores and segments."""
    from questline.scoring.service import run_scoring

    with out.status("scoring"):
        run = run_scoring(_runtime(), as_of.date() if as_of else None)
    if as_json:
        print(json.dumps(run.as_dict(), indent=2))
        return
    out.print(
        f"scored {run.subscribers:,} subscribers as of {run.as_of} ({run.days_rebuilt} days re-aggregated, "
        f"churn model: {run.churn_model or 'none, Risk is the heuristic'}, {run.band_changes} score.changed events, "
        f"{run.without_region:,} without a region)"
    )
    print_table([{k: r[k] for k in ("label", "subscribers", "share")} for r in run.segments], title="Segments")


@segments_app.command("list")
def segments_list(as_json: JsonFlag = False) -> None:
    """Every segment with its latest size."""
    from questline.scoring import queries

    rows = queries.segments(_runtime())
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    latest = [{"name": r["name"], "label": r["label"], "size": (r["sizes"] or [{}])[0].get("size")} for r in rows]
    print_table(latest, title="Segments")


@segments_app.command("show")
def segments_show(name: str, as_json: JsonFlag = False) -> None:
    """One segment: its rule, its size at each run, and some of its members."""
    from questline.scoring import queries

    found = queries.segment(_runtime(), name)
    if as_json:
        print(json.dumps(found, indent=2, default=str))
        return
    out.print(f"[bold]{found['label']}[/] ({found['name']}): {found['description']}")
    out.print(f"rule: {json.dumps(found['rule'])}")
    print_table(found["sizes"], title="Sizes")
    print_table(found["members"], title="Members (sample)")


@subscribers_app.command("show")
def subscribers_show(subscriber_id: str, as_json: JsonFlag = False) -> None:
    """Profile, the five scores with what moved them, segment, churn probability, top offers, lifetime value."""
    from questline.scoring import queries

    found = queries.subscriber(_runtime(), subscriber_id)
    if as_json:
        print(json.dumps(found, indent=2, default=str))
        return
    out.print(f"[bold]{subscriber_id}[/] as of {found['as_of']}: segment {found['segment']}, {found['profile']}")
    rows = [
        {
            "score": name,
            "value": detail["value"],
            "moved most by": ", ".join(f"{r['feature']} ({r['contribution']:+.1f})" for r in detail["explanation"]),
        }
        for name, detail in found["scores"].items()
    ]
    print_table(rows, title="Scores")
    out.print(f"churn probability: {found['churn_probability']}, lifetime value: {found['lifetime_value']:.2f}")
    print_table(found["offers"], title="Next best offers")


@regions_app.command("load")
def regions_load(file: Annotated[Path, typer.Argument(help="CSV with a location,region header.")]) -> None:
    """Replace the region map with a CSV file: each row maps a location area (MCC-MNC-LAC) or a cell id to a region."""
    from questline.scoring import regions

    mapping = regions.read_csv(file)
    with _runtime().db.session() as session:
        count = regions.replace(session, mapping)
    out.print(f"loaded {count:,} locations in {len({r.region for r in mapping.regions}):,} regions")


@regions_app.command("list")
def regions_list(as_json: JsonFlag = False) -> None:
    """The region map (empty: every location area is its own region)."""
    from questline.scoring import regions

    with _runtime().db.session() as session:
        rows = regions.stored(session).to_dicts()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print_table(rows, title="Regions")
