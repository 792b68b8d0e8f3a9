"""The synthetic operator: same seed same bytes, truth that matches the files, personas that show in the data, and
a source configuration that reads every feed back to exactly the truth's counts."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import yaml

from questline.kit.errors import Invalid
from questline.simulate import simulate
from questline.simulate.personas import PERSONAS, persona_counts
from questline.sources.formats import read
from questline.sources.formats.asn1_ber import split
from questline.sources.mapping import normalize
from questline.sources.spec import SourcesDocument

SUBSCRIBERS, DAYS = 600, 10


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("operator")
    simulate(out, subscribers=SUBSCRIBERS, days=DAYS, seed=11)
    return out


def _truth(out: Path) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads((out / "truth.json").read_text())
    return truth


def _sources(out: Path) -> SourcesDocument:
    return SourcesDocument.model_validate(yaml.safe_load((out / "sources.yaml").read_text()))


def _files(out: Path, glob: str) -> list[Path]:
    return sorted(out.glob(glob))


def _digest(out: Path) -> dict[str, str]:
    return {
        str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


# ---- determinism ---------------------------------------------------------------------------------------------


def test_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first, again, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate(first, subscribers=150, days=3, seed=5)
    simulate(again, subscribers=150, days=3, seed=5)
    simulate(other, subscribers=150, days=3, seed=6)
    assert _digest(first) == _digest(again)
    assert len(_digest(first)) > 20
    differing = {name for name, digest in _digest(other).items() if _digest(first).get(name) != digest}
    assert "truth.json" in differing and len(differing) > 20


def test_a_second_run_into_the_same_folder_replaces_the_feeds(tmp_path: Path) -> None:
    simulate(tmp_path, subscribers=100, days=4, seed=1)
    simulate(tmp_path, subscribers=100, days=2, seed=1, start=dt.date(2027, 3, 1))
    truth = _truth(tmp_path)
    assert truth["start"] == "2027-03-01" and truth["end"] == "2027-03-03"
    assert not _files(tmp_path, "cdr/mediation/*2026*")
    assert len(_files(tmp_path, "cdr/mediation/*.csv")) == 2


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="subscribers"):
        simulate(tmp_path, subscribers=0, days=3, seed=1)
    with pytest.raises(Invalid, match="time zone"):
        simulate(tmp_path, subscribers=10, days=3, seed=1, timezone="Mars/Olympus")


# ---- truth against the files ---------------------------------------------------------------------------------


def _records_in(path: Path, fmt: dict[str, Any]) -> int:
    """Records in a file, counted the way its own system delimits them (not by the readers under test)."""
    if fmt["type"] == "ber":
        return len(split(path.read_bytes(), "ts32297"))
    text = path.read_text()
    if fmt["type"].startswith("tmf"):
        return len(json.loads(text))
    lines = [line for line in text.splitlines() if line]
    return len(lines) - (1 if fmt.get("header") else 0)


def test_truth_counts_what_the_files_hold(operator: Path) -> None:
    truth = _truth(operator)
    document = yaml.safe_load((operator / "sources.yaml").read_text())
    by_kind: Counter[str] = Counter()
    for source in document["sources"]:
        expected = truth["sources"][source["name"]]
        files = _files(operator, source["location"]["files"])
        assert len(files) == expected["files"] > 0
        records = sum(_records_in(path, source["format"]) for path in files)
        assert records == expected["records"]
        assert expected["events"] == records - expected["bad_rows"] - expected["duplicates"]
        assert expected["bad_rows"] == sum(expected["bad_rows_by_defect"].values()) >= 1
        by_kind[source["kind"]] += expected["events"]
    assert dict(by_kind) == truth["events"]
    assert sum(truth["events_by_type"].values()) == sum(truth["events"].values())
    assert truth["bad_rows"] == sum(s["bad_rows"] for s in truth["sources"].values())
    assert truth["duplicates"] == sum(s["duplicates"] for s in truth["sources"].values()) > 0
    assert 0.001 < truth["bad_rows"] / sum(s["records"] for s in truth["sources"].values()) < 0.01


def test_truth_describes_the_base(operator: Path) -> None:
    truth = _truth(operator)
    assert truth["subscribers"] == SUBSCRIBERS == len(truth["personas"])
    assert all(subscriber.startswith("+447") and len(subscriber) == 13 for subscriber in truth["personas"])
    shares = Counter(truth["personas"].values())
    assert [shares[p.name] for p in PERSONAS] == list(persona_counts(SUBSCRIBERS))
    assert truth["churners"] and all(truth["personas"][c] == "declining" for c in truth["churners"])
    assert all(truth["personas"][s] == "new_joiner" for s in truth["new_joiners"])
    assert set(truth["persona_profiles"]) == {p.name for p in PERSONAS}


def test_persona_shares_are_exact_for_any_base() -> None:
    for size in (1, 7, 999, 100_000):
        counts = persona_counts(size)
        assert counts.sum() == size
        assert all(abs(c - p.share * size) < 1 for c, p in zip(counts, PERSONAS, strict=True))


# ---- personas visible in the raw data ------------------------------------------------------------------------


def _app_events_per_subscriber(out: Path) -> Counter[str]:
    events: Counter[str] = Counter()
    for path in _files(out, "app/*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                subject = json.loads(line).get("subject")
            except json.JSONDecodeError:
                continue
            events[subject] += 1
    return events


def _mean(counts: Counter[str], subscribers: list[str]) -> float:
    return sum(counts[s] for s in subscribers) / len(subscribers)


def test_digital_natives_live_in_the_app_and_voice_centric_users_do_not(operator: Path) -> None:
    personas = _truth(operator)["personas"]
    events = _app_events_per_subscriber(operator)
    digital = [s for s, p in personas.items() if p == "digital_native"]
    voice = [s for s, p in personas.items() if p == "voice_centric"]
    assert _mean(events, digital) > 10 * _mean(events, voice)


def _cdr_days(out: Path) -> Counter[tuple[str, int]]:
    """Mediation records per (E.164 subscriber, day of month), straight from the semicolon-separated files."""
    usage: Counter[tuple[str, int]] = Counter()
    for path in _files(out, "cdr/mediation/*.csv"):
        for line in path.read_text().splitlines():
            fields = line.split(";")
            if len(fields) == 12 and fields[2] and fields[4][:2] == "20":
                usage["+44" + fields[2][1:], int(fields[4][6:8])] += 1
    return usage


def test_voice_centric_users_call_most_and_churners_fade_out(operator: Path) -> None:
    truth = _truth(operator)
    personas, churners = truth["personas"], truth["churners"]
    usage = _cdr_days(operator)
    per_subscriber: Counter[str] = Counter()
    for (subscriber, _), count in usage.items():
        per_subscriber[subscriber] += count
    by_persona = {p.name: _mean(per_subscriber, [s for s, q in personas.items() if q == p.name]) for p in PERSONAS}
    assert max(by_persona, key=lambda name: by_persona[name]) == "voice_centric"
    early = sum(usage[c, day] for c in churners for day in (1, 2, 3))
    late = sum(usage[c, day] for c in churners for day in (DAYS - 2, DAYS - 1, DAYS))
    assert late < early / 4
    changes = pl.concat([pl.read_csv(p, infer_schema=False) for p in _files(operator, "crm/changes/*.csv")])
    deactivated = changes.filter(pl.col("change_type") == "DEACTIVATION")["msisdn"].drop_nulls()
    assert {"+44" + m[1:] for m in deactivated} <= set(churners)


def test_new_joiners_appear_during_the_period(operator: Path) -> None:
    truth = _truth(operator)
    delta = [json.loads(p.read_text()) for p in _files(operator, "crm/customers/CUSTOMERS_DELTA_*.json")]
    started = {c["validFor"]["startDateTime"][:10] for day in delta for c in day}
    assert started and min(started) >= truth["start"] and max(started) < truth["end"]
    assert len(truth["new_joiners"]) == Counter(truth["personas"].values())["new_joiner"]


# ---- sources.yaml --------------------------------------------------------------------------------------------


def test_sources_yaml_validates_and_covers_every_kind(operator: Path) -> None:
    document = _sources(operator)
    assert {s.kind.value for s in document.sources} == {"cdr", "billing", "app", "crm", "network"}
    assert all(not Path(s.location.files or "/").is_absolute() for s in document.sources)
    assert all(s.mapping.natural_key for s in document.sources)


def test_every_feed_normalizes_to_exactly_the_truth(operator: Path) -> None:
    """End to end through the real readers and mapping: distinct events and rejects per source as in truth.json;
    every event inside the period (activations aside), of a known subscriber, none after a line is gone."""
    truth = _truth(operator)
    everything = []
    for spec in _sources(operator).sources:
        resolved = spec.resolved(operator)
        events, rejects = [], []
        for path in _files(operator, spec.location.files or ""):
            normalized = normalize(read(path, resolved.format), resolved, location=path.name, zone=truth["timezone"])
            events.append(normalized.events)
            rejects.append(normalized.rejects)
        expected = truth["sources"][spec.name]
        ids = pl.concat(events)["event_id"]
        assert ids.n_unique() == expected["events"], spec.name
        assert len(ids) == expected["events"] + expected["duplicates"], spec.name
        assert pl.concat(rejects).height == expected["bad_rows"], spec.name
        everything.append(pl.concat(events).select("subscriber_id", "event_time", "event_type"))
    _check_lives(pl.concat(everything), truth)


def _check_lives(events: pl.DataFrame, truth: dict[str, Any]) -> None:
    zone = ZoneInfo(truth["timezone"])
    start, end = (dt.datetime.fromisoformat(truth[k]).replace(tzinfo=zone).astimezone(dt.UTC) for k in ("start", "end"))
    usage = events.filter(pl.col("event_type") != "subscriber_activated")
    assert usage["event_time"].min() >= start and usage["event_time"].max() < end  # type: ignore[operator]
    assert set(events["subscriber_id"].unique()) <= set(truth["personas"])
    gone = events.filter(pl.col("event_type") == "deactivated").select("subscriber_id", gone="event_time")
    assert set(gone["subscriber_id"]) <= set(truth["churners"])  # a deactivation record may be a broken one
    assert events.join(gone, on="subscriber_id").filter(pl.col("event_time") > pl.col("gone")).is_empty()
