"""Stable hashes as polars expressions (polars' own `hash` may change between versions; these do not)."""

from __future__ import annotations

from typing import Any, cast

import polars as pl
import polars_hash  # noqa: F401  (registers the `nchash` / `chash` expression namespaces)


def xxhash64(expr: pl.Expr) -> pl.Expr:
    """xxHash64 of a string expression, as UInt64."""
    result: pl.Expr = cast(Any, expr).nchash.xxhash64()
    return result


def hmac_sha256(expr: pl.Expr, key: str) -> pl.Expr:
    """HMAC-SHA256 of a string expression under `key`, as 64 hex digits."""
    result: pl.Expr = cast(Any, expr).chash.hmac_sha256(key=key)
    return result
