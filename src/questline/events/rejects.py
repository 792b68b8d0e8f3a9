"""The rejects store: records that could not be normalized, with where they came from and why."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from questline.kit.hashing import xxhash64
from questline.models import Reject

_CHUNK = 5000


def store(session: Session, rejects: pl.DataFrame) -> int:
    """Keep rejects not kept before (by fingerprint); return how many were new."""
    if rejects.is_empty():
        return 0
    keyed = rejects.with_columns(_fingerprint().alias("fingerprint")).unique("fingerprint", keep="first")
    known = set(_known(session, keyed.get_column("fingerprint").to_list()))
    new = keyed.filter(~pl.col("fingerprint").is_in(list(known)))
    if new.height:  # an empty parameter list would insert one row of defaults
        session.execute(insert(Reject), new.to_dicts())
    return new.height


def _fingerprint() -> pl.Expr:
    parts = [pl.col(c).cast(pl.String).fill_null("") for c in ("source", "location", "record", "raw")]
    return xxhash64(pl.concat_str(parts, separator="\x1f")).cast(pl.String)


def _known(session: Session, fingerprints: list[str]) -> Iterable[str]:
    for start in range(0, len(fingerprints), _CHUNK):
        chunk = fingerprints[start : start + _CHUNK]
        yield from session.scalars(select(Reject.fingerprint).where(Reject.fingerprint.in_(chunk)))


def listing(session: Session, *, source: str | None = None, limit: int = 50, offset: int = 0) -> list[Reject]:
    query = select(Reject).order_by(Reject.id)
    if source:
        query = query.where(Reject.source == source)
    return list(session.scalars(query.offset(offset).limit(limit)))


def counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Reject.source, func.count()).group_by(Reject.source))
    return {source: int(n) for source, n in rows}
