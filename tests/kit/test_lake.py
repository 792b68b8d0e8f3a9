from pathlib import Path

import polars as pl

from questline.kit.lake import Lake


def frame(ids: list[int], day: str = "2026-11-01") -> pl.DataFrame:
    return pl.DataFrame({"id": pl.Series(ids, dtype=pl.UInt64), "day": [day] * len(ids), "v": ids})


def test_append_is_idempotent_and_reports_duplicates(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    first = lake.append("t", frame([1, 2, 3, 3]), partition="day", key="id")
    again = lake.append("t", frame([2, 3, 4]), partition="day", key="id")
    assert (first.added, first.duplicates) == (3, 1)
    assert (again.added, again.duplicates) == (1, 2)
    scanned = lake.scan("t")
    assert scanned is not None
    assert sorted(scanned.collect().get_column("id").to_list()) == [1, 2, 3, 4]


def test_duplicates_are_found_only_within_the_same_partition_value(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.append("t", frame([1]), partition="day", key="id")
    both = pl.concat([frame([1]), frame([5], day="2026-11-02")])
    assert lake.append("t", both, partition="day", key="id").added == 1
    assert lake.partitions("t") == ["2026-11-01", "2026-11-02"]


def test_a_half_written_file_from_a_crash_is_invisible(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.append("t", frame([1]), partition="day", key="id")
    (tmp_path / "t" / "day=2026-11-01" / ".part-crashed.parquet.tmp").write_bytes(b"PAR1 truncated")
    scanned = lake.scan("t")
    assert scanned is not None
    assert scanned.collect().height == 1
    assert lake.append("t", frame([1, 2]), partition="day", key="id").added == 1


def test_empty_table_scans_as_none(tmp_path: Path) -> None:
    assert Lake(tmp_path).scan("t") is None
