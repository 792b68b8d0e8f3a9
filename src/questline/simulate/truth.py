"""Ground truth: what the feeds hold, counted while they were written, for the ingest check and later stages."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from questline.events.vocabulary import EVENT_TYPES, SOURCE_KINDS
from questline.simulate import personas as P
from questline.simulate.calendar import Calendar
from questline.simulate.feed import Written
from questline.simulate.population import NEVER, Population, home_regions


@dataclass(frozen=True)
class Truth:
    subscribers: int
    seed: int
    start: str  # first local day of the period
    end: str  # the day after the last one
    days: int
    timezone: str
    events: dict[str, int]  # per source kind: distinct good records, re-sent copies excluded
    events_by_type: dict[str, int]
    bad_rows: int
    duplicates: int  # exact re-sent copies of good records, which ingestion must drop
    sources: dict[str, dict[str, Any]]  # per configured source: kind, files, records, events, bad_rows, duplicates
    personas: dict[str, str]  # E.164 subscriber id -> persona
    regions: dict[str, str]  # E.164 subscriber id -> the region of their home cell
    churners: list[str]  # lines deactivated during the period
    new_joiners: dict[str, str]  # subscriber id -> activation time (UTC, RFC 3339)
    persona_profiles: dict[str, dict[str, Any]]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n"

    def write(self, path: Path) -> None:
        path.write_text(self.to_json(), encoding="utf-8")


def build(written: list[Written], pop: Population, cal: Calendar, seed: int) -> Truth:
    ids = pop.e164.to_list()
    good = pl.concat([w.events for w in written])
    by_type = dict(good.group_by("_type").agg(pl.col("n").sum()).sort("_type").iter_rows())
    events = dict.fromkeys(SOURCE_KINDS, 0)
    for name, count in by_type.items():
        events[EVENT_TYPES[name].kind.value] += int(count)
    joiners = np.flatnonzero(pop.activation_day >= 0)
    joined = pl.from_epoch(pl.Series(pop.activation_ms[joiners]), time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Truth(
        subscribers=pop.size,
        seed=seed,
        start=cal.start.isoformat(),
        end=cal.end.isoformat(),
        days=cal.days,
        timezone=cal.zone,
        events=events,
        events_by_type={name: int(by_type.get(name, 0)) for name in EVENT_TYPES},
        bad_rows=sum(sum(w.bad.values()) for w in written),
        duplicates=sum(w.duplicates for w in written),
        sources={w.source: _source(w) for w in written},
        personas={ids[i]: P.PERSONA_NAMES[p] for i, p in enumerate(pop.persona)},
        regions=dict(zip(ids, home_regions(pop).to_list(), strict=True)),
        churners=sorted(ids[i] for i in np.flatnonzero(pop.deactivation_day < NEVER)),
        new_joiners=dict(sorted(zip([ids[i] for i in joiners], joined.to_list(), strict=True))),
        persona_profiles=_profiles(good, pop, cal.days),
    )


def _source(w: Written) -> dict[str, Any]:
    return {
        "kind": w.kind.value,
        "files": len(w.files),
        "records": w.records,
        "events": int(w.events["n"].sum()),
        "bad_rows": sum(w.bad.values()),
        "bad_rows_by_defect": w.bad,
        "duplicates": w.duplicates,
    }


def _profiles(good: pl.DataFrame, pop: Population, days: int) -> dict[str, dict[str, Any]]:
    """Per persona: head count, description, and the mean events per subscriber per day of each event type."""
    persona = pl.Series(pop.persona).gather(good["_sub"])
    counts = good.with_columns(persona.alias("_persona")).group_by("_persona", "_type").agg(pl.col("n").sum())
    heads = np.bincount(pop.persona, minlength=len(P.PERSONAS))
    profiles: dict[str, dict[str, Any]] = {}
    for number, persona_spec in enumerate(P.PERSONAS):
        mine = counts.filter(pl.col("_persona") == number)
        rates = dict(zip(mine["_type"].to_list(), mine["n"].to_list(), strict=True))
        per_day = {
            name: round(rates.get(name, 0) / max(1, heads[number] * days), 4) for name in EVENT_TYPES if name in rates
        }
        profiles[persona_spec.name] = {
            "subscribers": int(heads[number]),
            "share": persona_spec.share,
            "description": persona_spec.summary,
            "events_per_subscriber_day": per_day,
        }
    return profiles
