"""Moving records from a source into the lake: read, normalize, append (deduplicated), keep rejects, checkpoint.

Order matters for crash safety: events reach the lake first, then rejects, then the checkpoint. A crash before the
checkpoint means the file is read again next time, and the lake's and the rejects store's keys make that second
read add nothing that the first one already added."""

from __future__ import annotations

import datetime as dt
import glob
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import xxhash
from sqlalchemy import select

from questline.events import rejects
from questline.kit.time import utcnow
from questline.models import Source, SourceFile
from questline.runtime import Runtime
from questline.sources import service
from questline.sources.formats import read
from questline.sources.mapping import Normalized, normalize
from questline.sources.spec import SourceSpec


@dataclass
class IngestResult:
    files: int = 0
    skipped: int = 0  # files already done, by path and checksum
    records: int = 0
    events: int = 0  # new events written to the lake
    duplicates: int = 0  # events the lake already had, or repeated in the input
    rejected: int = 0
    filtered: int = 0

    def __iadd__(self, other: IngestResult) -> IngestResult:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


OnFile = Callable[[Path, IngestResult], None]


def sync(
    rt: Runtime,
    name: str | None = None,
    *,
    force: bool = False,
    due_at: dt.datetime | None = None,
    on_file: OnFile | None = None,
) -> dict[str, IngestResult]:
    """Ingest every new or changed file of one source, or of every enabled file source (with `due_at`: only those
    whose schedule has come round since their last sync)."""
    results: dict[str, IngestResult] = {}
    for spec in selected(rt, name, due_at=due_at):
        total = IngestResult()
        for path in files_of(spec):
            result = ingest_file(rt, spec, path, force=force)
            total += result
            if on_file:
                on_file(path, result)
        with rt.db.session() as session:
            source = session.get(Source, spec.name)
            if source is not None:
                source.last_sync_at = utcnow()
        results[spec.name] = total
    return results


def selected(rt: Runtime, name: str | None = None, *, due_at: dt.datetime | None = None) -> list[SourceSpec]:
    """The file sources a sync reads: the one named, or every enabled one; with `due_at`, only those due by then."""
    with rt.db.session() as session:
        if name:
            return [service.get(session, name)]
        rows = session.scalars(select(Source).where(Source.enabled).order_by(Source.name)).all()
        specs = [(SourceSpec.model_validate(row.spec), row.last_sync_at) for row in rows]
    return [spec for spec, last in specs if spec.location.files and _due(spec, last, due_at)]


def _due(spec: SourceSpec, last: dt.datetime | None, due_at: dt.datetime | None) -> bool:
    if due_at is None or last is None:
        return True
    last = last if last.tzinfo else last.replace(tzinfo=dt.UTC)  # SQLite hands back naive UTC
    return (due_at - last).total_seconds() >= spec.schedule_seconds


def files_of(spec: SourceSpec) -> list[Path]:
    pattern = spec.location.files or ""
    return [Path(p) for p in sorted(glob.glob(pattern, recursive=True)) if Path(p).is_file()]


def ingest_file(rt: Runtime, spec: SourceSpec, path: Path, *, force: bool = False) -> IngestResult:
    digest = checksum(path)
    if not force and _done(rt, spec.name, str(path), digest):
        return IngestResult(skipped=1)
    normalized = normalize_file(rt, spec, path)
    result = land(rt, normalized)
    with rt.db.session() as session:
        done = session.scalar(
            select(SourceFile).where(
                SourceFile.source == spec.name, SourceFile.path == str(path), SourceFile.checksum == digest
            )
        )
        if done is None:
            counts = {k: v for k, v in result.as_dict().items() if k not in ("files", "skipped")}
            session.add(
                SourceFile(source=spec.name, path=str(path), checksum=digest, size=path.stat().st_size, **counts)
            )
        else:
            done.done_at = utcnow()
    result.files = 1
    return result


def normalize_file(rt: Runtime, spec: SourceSpec, path: Path) -> Normalized:
    return normalize(read(path, spec.format), spec, location=str(path), zone=rt.settings.timezone, secret=rt.secret)


def land(rt: Runtime, normalized: Normalized) -> IngestResult:
    """Write the events (deduplicated) and keep the rejects; the checkpoint is the caller's business."""
    appended = rt.events.append(normalized.events)
    with rt.db.session() as session:
        rejects.store(session, normalized.rejects)
    return IngestResult(
        records=normalized.events.height + normalized.rejects.height + normalized.filtered,
        events=appended.added,
        duplicates=appended.duplicates,
        rejected=normalized.rejects.height,
        filtered=normalized.filtered,
    )


def _done(rt: Runtime, source: str, path: str, digest: str) -> bool:
    with rt.db.session() as session:
        found = session.scalar(
            select(SourceFile.id).where(
                SourceFile.source == source, SourceFile.path == path, SourceFile.checksum == digest
            )
        )
    return found is not None


def checksum(path: Path) -> str:
    """The file's content fingerprint for the checkpoint: XXH3-128, ~10x faster than SHA-256 and as good at telling
    a changed file from an unchanged one (this is change detection, not a defence against forgery)."""
    digest = xxhash.xxh3_128()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
