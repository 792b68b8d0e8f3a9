"""Ingest of a CSV CDR file — parse, normalize, deduplicate, write to the lake — beside the bare baseline measured
in the same run: pyarrow converting the same file, unchanged, from CSV to Parquet.

The file is the simulated operator's mediation CDR export (12 columns, national numbers, local timestamps, a few
broken values that become rejects), joined into one file; the mapping is the one in the simulator's sources.yaml.

    .venv/bin/python bench/ingest_csv.py [--subscribers 10000] [--days 15] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from questline.config import load_settings
from questline.runtime import Runtime
from questline.simulate import simulate
from questline.sources import service
from questline.sources.formats import read
from questline.sources.spec import CsvFormat, SourceSpec
from questline.sources.sync import files_of, ingest_file

SOURCE = "mediation-cdr"


def cdr_file(work: Path, subscribers: int, days: int) -> tuple[Path, SourceSpec]:
    """The simulator's daily mediation files as one file of well-formed CSV rows (the baseline can't skip bad ones)."""
    feeds = work / "feeds"
    simulate(feeds, subscribers=subscribers, days=days, seed=3)
    spec = next(s for s in service.load_document(feeds / "sources.yaml") if s.name == SOURCE)
    assert isinstance(spec.format, CsvFormat)
    path = work / "cdr.csv"
    with path.open("wb") as out:
        for daily in files_of(spec):
            rows = read(daily, spec.format).frame.drop("_record")
            out.write(rows.write_csv(separator=spec.format.delimiter, include_header=False).encode())
    return path, spec


def baseline(csv: Path, out: Path, delimiter: str) -> float:
    started = time.perf_counter()
    options = pacsv.ReadOptions(autogenerate_column_names=True)
    pq.write_table(pacsv.read_csv(csv, options, pacsv.ParseOptions(delimiter=delimiter)), out)
    return time.perf_counter() - started


def ours(csv: Path, spec: SourceSpec, home: Path) -> tuple[float, int, int]:
    rt = Runtime.open(load_settings(home=home, timezone="Europe/London"))
    with rt.db.session() as session:
        service.save(session, spec)
    started = time.perf_counter()
    result = ingest_file(rt, spec, csv)
    elapsed = time.perf_counter() - started
    rt.db.engine.dispose()
    return elapsed, result.records, result.events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csv, spec = cdr_file(work, args.subscribers, args.days)
        assert isinstance(spec.format, CsvFormat)
        base_times, our_times = [], []
        for run in range(args.repeat):  # interleaved, so that noise hits both alike
            base_times.append(baseline(csv, work / f"plain-{run}.parquet", spec.format.delimiter))
            elapsed, records, events = ours(csv, spec, work / f"home-{run}")
            our_times.append(elapsed)
        base, mine = min(base_times), min(our_times)
        print(
            f"file: {records:,} CDR rows ({events:,} events, rest rejected or duplicate), "
            f"{csv.stat().st_size / 1e6:.0f} MB; best of {args.repeat}"
        )
        print("| work | time | rate |")
        print("| --- | --- | --- |")
        print(f"| pyarrow CSV -> Parquet, unchanged (baseline) | {base:.2f} s | {records / base / 1e6:.2f} M rows/s |")
        print(
            f"| questline ingest: parse, normalize, dedup, lake | {mine:.2f} s | {records / mine / 1e6:.2f} M rows/s |"
        )
        print(f"| ratio (target >= 40%) | | {base / mine:.0%} |")


if __name__ == "__main__":
    main()
