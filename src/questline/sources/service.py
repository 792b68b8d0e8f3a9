"""Configured sources in the database: add (or update), list, look up, remove."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from questline.kit import documents
from questline.kit.documents import read_document
from questline.kit.errors import NotFound
from questline.models import Source, SourceFile
from questline.sources.spec import FORMAT_TYPES, SourcesDocument, SourceSpec


def load_document(path: Path) -> list[SourceSpec]:
    """Read a YAML file of `sources:` (or one source, or a list of them); relative paths in it are relative to the
    file."""
    data = read_document(path)
    if not isinstance(data, dict) or "sources" not in data:
        data = {"sources": data if isinstance(data, list) else [data]}
    document = documents.load_document(SourcesDocument, data, tags=FORMAT_TYPES, tag_field="type")
    base = path.resolve().parent
    return [spec.resolved(base) for spec in document.sources]


def save(session: Session, spec: SourceSpec) -> tuple[Source, bool]:
    """Insert the source or replace its configuration (bumping its version); True when it is new."""
    document = spec.model_dump(mode="json", exclude_defaults=False)
    row = session.get(Source, spec.name)
    if row is None:
        row = Source(name=spec.name, kind=spec.kind.value, spec=document, enabled=spec.enabled, version=1)
        session.add(row)
        return row, True
    if row.spec != document:
        row.spec, row.kind, row.enabled, row.version = (
            document,
            spec.kind.value,
            spec.enabled,
            row.version + 1,
        )
    return row, False


def get(session: Session, name: str) -> SourceSpec:
    row = session.get(Source, name)
    if row is None:
        raise NotFound(f"no source named {name!r}", field="name")
    return SourceSpec.model_validate(row.spec)


def summaries(session: Session) -> list[dict[str, object]]:
    """Each source with its checkpoint totals, for listings."""
    totals = {
        name: (files, events, rejected)
        for name, files, events, rejected in session.execute(
            select(
                SourceFile.source, func.count(), func.sum(SourceFile.events), func.sum(SourceFile.rejected)
            ).group_by(SourceFile.source)
        )
    }
    rows = []
    for row in session.scalars(select(Source).order_by(Source.name)):
        files, events, rejected = totals.get(row.name, (0, 0, 0))
        spec = SourceSpec.model_validate(row.spec)
        rows.append(
            {
                "name": row.name,
                "kind": row.kind,
                "format": spec.format.type,
                "location": spec.location.files or "http",
                "schedule": spec.schedule,
                "enabled": row.enabled,
                "version": row.version,
                "files_done": int(files or 0),
                "events": int(events or 0),
                "rejected": int(rejected or 0),
                "last_sync_at": row.last_sync_at.isoformat() if row.last_sync_at else None,
            }
        )
    return rows


def remove(session: Session, name: str) -> None:
    row = session.get(Source, name)
    if row is None:
        raise NotFound(f"no source named {name!r}", field="name")
    session.query(SourceFile).filter(SourceFile.source == name).delete()
    session.delete(row)
