"""A Parquet lake on the local file system: tables of hive partitions (`<table>/<column>=<value>/part-*.parquet`).

Appends are idempotent on a key: rows whose key is already in a touched partition, or repeated within the batch,
are not written again. Each partition file appears atomically (written aside, then renamed), so a crash leaves
either a whole file or none, and a retried append adds exactly what is missing.

Derived tables (the daily aggregates) are not appended but replaced a partition at a time: one file per partition,
swapped by a single rename."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

REPLACED = "part-0.parquet"
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

    def partition_files(self, table: str, partition: str) -> dict[str, list[str]]:
        """Per partition value, the sorted names of its data files."""
        base = self.root / table
        found: dict[str, list[str]] = {}
        for path in base.glob(f"{partition}=*/*.parquet") if base.exists() else []:
            found.setdefault(path.parent.name.split("=", 1)[1], []).append(path.name)
        return {value: sorted(names) for value, names in sorted(found.items())}

    def replace_partition(self, table: str, partition: str, value: object, frame: pl.DataFrame) -> None:
        """Make `frame` the whole partition. Replaced partitions hold one file of a fixed name, swapped in by one
        rename, so a reader sees the old content or the new, never both (a table is either appended or replaced)."""
        directory = self._partition_dir(table, partition, value)
        with self._locked():
            directory.mkdir(parents=True, exist_ok=True)
            aside = directory / f".{REPLACED}.{uuid.uuid4().hex}.tmp"
            frame.write_parquet(aside, **PARQUET_OPTIONS)  # type: ignore[arg-type]
            os.replace(aside, directory / REPLACED)
            for stale in directory.glob("*.parquet"):
                if stale.name != REPLACED:
                    stale.unlink()

    def replaced_file(self, table: str, partition: str, value: object) -> Path:
        """Where a replaced partition keeps its one file (absent until written): a reader may cache the content by
        the file's identity, since a replacement is always a new file."""
        return self._partition_dir(table, partition, value) / REPLACED

    def drop_partition(self, table: str, partition: str, value: object) -> None:
        directory = self._partition_dir(table, partition, value)
        with self._locked():
            if directory.exists():
                for stale in directory.glob("*.parquet"):
                    stale.unlink()  # a replaced partition is one file: it goes at once
                shutil.rmtree(directory)

    def read_manifest(self, name: str) -> dict[str, str]:
        """A small JSON document kept beside the tables (empty when absent)."""
        path = self.root / f"_{name}.json"
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def write_manifest(self, name: str, content: dict[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        aside = self.root / f"._{name}.{uuid.uuid4().hex}.tmp"
        aside.write_text(json.dumps(content, sort_keys=True, indent=1))
        os.replace(aside, self.root / f"_{name}.json")

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
