"""`questline templates …` and `questline missions …`, mounted by the main command."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from questline.kit.output import JsonFlag, out, print_table

templates_app = typer.Typer(no_args_is_help=True, help="Mission templates: the brains missions are made from.")
missions_app = typer.Typer(no_args_is_help=True, help="Concrete missions and their generation per subscriber.")
FileArg = Annotated[Path, typer.Argument(help="A YAML or JSON file with one template or a list of them.")]


def _runtime() -> Any:
    from questline.cli import state  # imported late: questline.cli mounts this module

    return state.runtime


def _print(value: object) -> None:
    print(json.dumps(value, indent=2, default=str))


@templates_app.command("list")
def templates_list(as_json: JsonFlag = False) -> None:
    """Every template (latest version) with its category, parameters and variation dimensions."""
    from questline.missions import queries

    rows = queries.templates(_runtime())
    if as_json:
        _print(rows)
        return
    shown = [{k: r[k] for k in ("key", "name", "category", "version", "reward_points")} for r in rows]
    print_table(shown, title=f"{len(rows)} templates")


@templates_app.command("show")
def templates_show(key: str, as_json: JsonFlag = False) -> None:
    """One template's whole document and its stored versions."""
    from questline.missions import templates

    rt = _runtime()
    document = templates.get(rt, key).model_dump(mode="json", exclude_none=True)
    document["versions"] = templates.history(rt, key)
    if as_json:
        _print(document)
        return
    import yaml

    out.print(yaml.safe_dump(document, sort_keys=False, allow_unicode=True).rstrip())


@templates_app.command("validate")
def templates_validate(file: FileArg) -> None:
    """Check templates without storing them: the first problem is named with its field."""
    from questline.missions.templates import parse_all, read_documents

    parsed = parse_all(read_documents(file))
    out.print(f"{len(parsed)} valid template(s): {', '.join(t.key for t in parsed)}")


@templates_app.command("add")
def templates_add(file: FileArg, as_json: JsonFlag = False) -> None:
    """Add templates, or a new version of those that exist (unchanged ones keep their version)."""
    from questline.missions.templates import parse_all, read_documents, save

    rt = _runtime()
    documents = read_documents(file)
    parse_all(documents)  # all valid before any is stored
    saved = [save(rt, d) for d in documents]
    rows = [{"key": s.template.key, "version": s.template.version, "outcome": s.outcome} for s in saved]
    if as_json:
        _print(rows)
        return
    for row in rows:
        out.print(f"{row['key']}: {row['outcome']} (version {row['version']})")


@missions_app.command("list")
def missions_list(
    template: Annotated[str | None, typer.Option(help="Only the missions of this template.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Active concrete missions (template x variation) and how many subscribers hold each."""
    from questline.missions import queries

    rows = queries.missions(_runtime(), template)
    if as_json:
        _print(rows)
        return
    shown = [{k: r[k] for k in ("key", "category", "active_assignments", "control_assignments")} for r in rows]
    print_table(shown, title=f"{len(rows)} missions")


@missions_app.command("generate")
def missions_generate(
    as_of: Annotated[
        dt.datetime | None,
        typer.Option("--as-of", formats=["%Y-%m-%d"], help="Scoring run to use (default: the latest)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be assigned; assign nothing.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Give every eligible subscriber their personal missions from the latest scores (caps, cooldowns, control)."""
    from questline.missions.service import run_generation

    with out.status("generating missions"):
        run = run_generation(_runtime(), as_of.date() if as_of else None, dry_run=dry_run)
    if as_json:
        _print(run.as_dict())
        return
    verb = "would assign" if dry_run else "assigned"
    out.print(
        f"{verb} {run.assigned:,} missions ({run.control:,} held out as control) to subscribers as of {run.as_of}, "
        f"from {run.missions} concrete missions"
    )
    top = sorted(run.by_mission, key=lambda r: -r["subscribers"])[:15]
    print_table(
        [{k: r[k] for k in ("mission_key", "subscribers", "control", "expected_reward_cost")} for r in top],
        title="Most assigned missions",
    )
