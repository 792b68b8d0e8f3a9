"""API keys: random, shown once, stored as SHA-256; each carries scopes."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from questline.kit.errors import Forbidden, Unauthorized
from questline.models import ApiKey

PREFIX = "ql_"
# Built once: every API request runs it, and composing it costs more than running it.
_ACTIVE_KEY = select(ApiKey).where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))


class Scope(StrEnum):
    INGEST = "ingest"  # post events and records
    ADMIN = "admin"  # configure and inspect; implies every other scope
    APP = "app"  # the self-care app, on behalf of subscribers


def create(session: Session, scopes: list[Scope], name: str = "") -> str:
    key = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, prefix=key[:10], key_hash=_hash(key), scopes=" ".join(sorted(set(scopes)))))
    return key


def authorize(session: Session, key: str | None, scope: Scope) -> ApiKey:
    if not key:
        raise Unauthorized("an API key is required: Authorization: Bearer <key>", field="Authorization")
    found = session.scalar(_ACTIVE_KEY, {"key_hash": _hash(key)})
    if found is None:
        raise Unauthorized("unknown or revoked API key", field="Authorization")
    held = set(found.scopes.split())
    if scope not in held and Scope.ADMIN not in held:
        raise Forbidden(f"this key lacks the {scope.value!r} scope", field="Authorization")
    return found


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
