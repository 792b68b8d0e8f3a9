"""Sync: files in, events in the lake once, rejects kept once, checkpoints honoured — on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from questline.events import rejects
from questline.events.stats import stats
from questline.kit.errors import ConfigError
from questline.kit.lake import Lake
from questline.runtime import Runtime
from questline.simulate import sources_document
from questline.sources import service
from questline.sources.sync import sync


@pytest.fixture
def configured(rt: Runtime, cdr_feed: Path) -> Runtime:
    with rt.db.session() as session:
        for spec in service.load_document(cdr_feed / "sources.yaml"):
            service.save(session, spec)
    return rt


def test_sync_ingests_once_and_force_adds_nothing(configured: Runtime) -> None:
    first = sync(configured)["mediation"]
    assert (first.files, first.records, first.events, first.rejected) == (2, 5, 3, 2)
    assert stats(configured)["events"]["cdr"] == 3
    assert stats(configured)["rejects"] == 2

    again = sync(configured)["mediation"]
    assert (again.files, again.skipped, again.events) == (0, 2, 0)

    forced = sync(configured, force=True)["mediation"]
    assert (forced.files, forced.events, forced.duplicates, forced.rejected) == (2, 0, 3, 2)
    assert stats(configured)["events"]["cdr"] == 3
    assert stats(configured)["rejects"] == 2


def test_a_changed_file_is_read_again_and_only_new_records_count(configured: Runtime, tmp_path: Path) -> None:
    sync(configured)
    day2 = tmp_path / "cdr" / "day2.csv"
    day2.write_text(day2.read_text() + "6;07700900002;SMS;20261102090000;\n")
    result = sync(configured)["mediation"]
    assert (result.files, result.events, result.duplicates) == (1, 1, 1)


def test_rejects_keep_where_and_why(configured: Runtime) -> None:
    sync(configured)
    with configured.db.session() as session:
        kept = {(Path(r.location).name, r.record, r.reason) for r in rejects.listing(session)}
    assert kept == {("day1.csv", 2, "event_type: unknown code 'BAD'"), ("day2.csv", 1, "expected 5 fields, found 2")}


def test_a_crash_before_the_checkpoint_loses_nothing_and_counts_nothing_twice(
    configured: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object) -> int:
        raise RuntimeError("power cut")

    monkeypatch.setattr(rejects, "store", crash)
    with pytest.raises(RuntimeError):
        sync(configured)
    monkeypatch.undo()
    sync(configured)
    assert stats(configured)["events"]["cdr"] == 3
    assert stats(configured)["rejects"] == 2


def test_a_crash_between_lake_partitions_is_repaired_by_the_next_sync(
    configured: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    original, calls = Lake._write, []

    def write_one_then_crash(self: Lake, directory: Path, frame: object) -> None:
        calls.append(directory)
        if len(calls) == 2:
            raise OSError("disk full")
        original(self, directory, frame)  # type: ignore[arg-type]

    day1 = Path(configured.settings.home).parent / "cdr" / "day1.csv"
    day1.write_text(day1.read_text() + "7;07700900004;SMS;20261105100000;\n")
    monkeypatch.setattr(Lake, "_write", write_one_then_crash)
    with pytest.raises(OSError):
        sync(configured)
    monkeypatch.undo()
    sync(configured)
    assert stats(configured)["events"]["cdr"] == 4


def test_due_sources_follow_their_schedule(configured: Runtime) -> None:
    import datetime as dt

    from questline.kit.time import utcnow

    assert "mediation" in sync(configured, due_at=utcnow())  # never synced: due
    assert sync(configured, due_at=utcnow()) == {}  # schedule 15m: not due again yet
    later = sync(configured, due_at=utcnow() + dt.timedelta(minutes=15))
    assert later["mediation"].skipped == 2


def test_a_document_naming_a_source_twice_is_refused(tmp_path: Path) -> None:
    first = sources_document("UTC")["sources"][0]
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": [first, first]}))
    with pytest.raises(ConfigError) as caught:
        service.load_document(tmp_path / "sources.yaml")
    assert caught.value.field == "sources"
    assert caught.value.message == f"source name used twice: {first['name']}"


def test_a_format_error_is_named_in_the_documents_own_terms(tmp_path: Path) -> None:
    source = sources_document("UTC")["sources"][0]
    wrong = source | {"format": source["format"] | {"delimiter": ";;"}}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump([wrong]))  # a list of sources is read too
    with pytest.raises(ConfigError) as caught:
        service.load_document(tmp_path / "sources.yaml")
    assert caught.value.field == "sources.0.format.delimiter"
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(source | {"format": {"type": "xml"}}))
    with pytest.raises(ConfigError) as caught:
        service.load_document(tmp_path / "sources.yaml")
    assert caught.value.field == "sources.0.format.type"
