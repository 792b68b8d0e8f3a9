"""Templates in the database: the built-in catalogue is loaded on first use; an operator adds templates or new versions
of them. A save that changes nothing keeps the current version; any change makes the next one."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from questline.kit.db import Database
from questline.kit.errors import Conflict, Invalid, NotFound
from questline.missions.template import Template, parse_template
from questline.models import MissionTemplate
from questline.runtime import Runtime

CATALOGUE = Path(__file__).with_name("catalogue.yaml")
Version = tuple[str, int]  # (key, version)
# Parsed versions per database: a stored version never changes, so the app's reads parse each one once.
_VERSIONS: weakref.WeakKeyDictionary[Database, dict[Version, Template]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Saved:
    template: Template
    outcome: str  # created | updated | unchanged


def read_documents(source: Path | str) -> list[dict[str, Any]]:
    """Template documents from a YAML or JSON file (one template or a list), with a clear error when unreadable."""
    try:
        text = source.read_text() if isinstance(source, Path) else source
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise Invalid(f"cannot read {source}: {exc}".splitlines()[0], field="file") from None
    documents = data if isinstance(data, list) else [data]
    if not documents or not all(isinstance(d, dict) for d in documents):
        raise Invalid("expected a template (a mapping) or a list of them", field="file")
    return documents


def parse_all(documents: list[dict[str, Any]]) -> list[Template]:
    templates = [parse_template(d, where=f"templates.{i}") for i, d in enumerate(documents)]
    keys = [t.key for t in templates]
    if len(set(keys)) != len(keys):
        raise Invalid("a template key appears twice", field="key")
    return templates


@functools.cache
def builtin() -> tuple[Template, ...]:
    return tuple(parse_all(read_documents(CATALOGUE)))


def current(rt: Runtime) -> list[Template]:
    """The latest version of every active template, by key."""
    with rt.db.session() as session:
        _load_builtin(session)
        return [parse_template(row.document) for row in _latest_rows(session) if row.active]


def versions(rt: Runtime, wanted: Iterable[Version]) -> dict[Version, Template]:
    """The templates of exactly these versions (the ones assignments were made from), parsed once per process."""
    known = _VERSIONS.setdefault(rt.db, {})
    missing = set(wanted) - known.keys()
    if missing:
        keys = {key for key, _ in missing}
        with rt.db.session() as session:
            rows = session.execute(
                select(MissionTemplate.key, MissionTemplate.version, MissionTemplate.document).where(
                    MissionTemplate.key.in_(keys)
                )
            )
            known |= {(k, v): parse_template(document) for k, v, document in rows if (k, v) in missing}
    return known


def get(rt: Runtime, key: str) -> Template:
    with rt.db.session() as session:
        _load_builtin(session)
        row = _latest(session, key)
        if row is None:
            raise NotFound(f"no template {key!r}", field="key")
        return parse_template(row.document)


def save(rt: Runtime, document: dict[str, Any], *, create: bool | None = None) -> Saved:
    """Store a template: `create=True` refuses an existing key, `create=False` a missing one, None accepts both."""
    parsed = parse_template(document)
    with rt.db.session() as session:
        _load_builtin(session)
        return _save(session, parsed, "operator", create)


def _save(session: Session, parsed: Template, origin: str, create: bool | None) -> Saved:
    latest = _latest(session, parsed.key)
    if latest is None and create is False:
        raise NotFound(f"no template {parsed.key!r}: create it with POST", field="key")
    if latest is not None and create is True:
        raise Conflict(f"template {parsed.key!r} exists: change it with PUT", field="key")
    if latest is not None:
        unchanged = parse_template(latest.document).model_copy(update={"version": parsed.version}) == parsed
        if unchanged:
            return Saved(parse_template(latest.document), "unchanged")
    version = 1 if latest is None else latest.version + 1
    stored = parsed.model_copy(update={"version": version})
    document = stored.model_dump(mode="json", exclude_none=True)
    session.add(MissionTemplate(key=stored.key, version=version, document=document, origin=origin))
    session.flush()
    return Saved(stored, "created" if latest is None else "updated")


def _load_builtin(session: Session) -> None:
    """Built-in templates whose key the database does not know yet (first use, or a new release)."""
    known = set(session.scalars(select(MissionTemplate.key).distinct()))
    for template in builtin():
        if template.key not in known:
            _save(session, template, "builtin", True)


def _latest(session: Session, key: str) -> MissionTemplate | None:
    return session.scalars(
        select(MissionTemplate).where(MissionTemplate.key == key).order_by(MissionTemplate.version.desc()).limit(1)
    ).first()


def _latest_rows(session: Session) -> list[MissionTemplate]:
    newest = (
        select(MissionTemplate.key, func.max(MissionTemplate.version).label("version"))
        .group_by(MissionTemplate.key)
        .subquery()
    )
    query = select(MissionTemplate).join(
        newest, (MissionTemplate.key == newest.c.key) & (MissionTemplate.version == newest.c.version)
    )
    return list(session.scalars(query.order_by(MissionTemplate.key)))


def history(rt: Runtime, key: str) -> list[dict[str, Any]]:
    """Every stored version of a template, newest first."""
    with rt.db.session() as session:
        _load_builtin(session)
        rows = session.scalars(
            select(MissionTemplate).where(MissionTemplate.key == key).order_by(MissionTemplate.version.desc())
        ).all()
        if not rows:
            raise NotFound(f"no template {key!r}", field="key")
        return [{"version": r.version, "origin": r.origin, "created_at": r.created_at.isoformat()} for r in rows]
