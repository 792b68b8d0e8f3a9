"""A Parquet lake on the local file system: tables of hive partitions (`<table>/<column>=<value>/part-*.parquet`).

Appends are idempotent on a key: rows whose key is already in a touched partition, or repeated within the batch,
are not written again. Each partition file appears atomically (written aside, then renamed), so a crash leaves
either a whole file or none, and a retried append adds exactly what is missing."""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

PARQUET_OPTIONS: dict[str, object] = {"compression": "lz4", "statistics": True, "row_group_size": 512 * 1024}


@dataclass(frozen=True)
class Appended:
    added: int
    duplicates: int


class Lake:
    def __init__(self, root: Path) -> None:
        self.root = root

    def append(self, table: str, frame: pl.DataFrame, *, partition: str, key: str) -> Appended:
        if frame.is_empty():
            return Appended(0, 0)
        with self._locked():
            values = frame.get_column(partition).unique().to_list()
            existing = self._keys(table, partition, values, key)
            fresh = pl.col(key).is_first_distinct() & ~pl.col(key).is_in(existing.implode())
            new = frame.filter(fresh)
            for (value,), part in new.partition_by(partition, as_dict=True, include_key=False).items():
                self._write(self._partition_dir(table, partition, value), part)
        return Appended(new.height, frame.height - new.height)

    def scan(self, table: str) -> pl.LazyFrame | None:
        """All of a table, partition column included; None while the table has no data."""
        if not any(self.root.joinpath(table).glob("*/*.parquet")):
            return None
        return pl.scan_parquet(self.root / table / "**" / "*.parquet", hive_partitioning=True)

    def partitions(self, table: str) -> list[str]:
        base = self.root / table
        return sorted(p.name.split("=", 1)[1] for p in base.glob("*=*") if p.is_dir()) if base.exists() else []

    def _keys(self, table: str, partition: str, values: list[object], key: str) -> pl.Series:
        files = [f for v in values for f in self._partition_dir(table, partition, v).glob("*.parquet")]
        if not files:
            return pl.Series(key, [], dtype=pl.UInt64)
        return pl.scan_parquet(files).select(key).collect().get_column(key)

    def _partition_dir(self, table: str, partition: str, value: object) -> Path:
        return self.root / table / f"{partition}={value}"

    def _write(self, directory: Path, frame: pl.DataFrame) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        name = f"part-{uuid.uuid4().hex}.parquet"
        aside = directory / f".{name}.tmp"
        frame.write_parquet(aside, **PARQUET_OPTIONS)  # type: ignore[arg-type]
        os.replace(aside, directory / name)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time per lake, across processes."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".write.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
