"""Ingest of a CSV CDR file (parse, normalize, deduplicate, write to the lake) beside the bare baseline measured in
the same run: pyarrow converting the same file, unchanged, from CSV to Parquet.

    .venv/bin/python bench/ingest_csv.py [--rows 2000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from questline.config import load_settings
from questline.runtime import Runtime
from questline.sources import service
from questline.sources.spec import SourceSpec
from questline.sources.sync import ingest_file

COLUMNS = ["record_id", "a_number", "b_number", "call_type", "start_time", "duration", "volume_kb", "cell", "roaming"]
SPEC = SourceSpec.model_validate(
    {
        "name": "mediation",
        "kind": "cdr",
        "format": {"type": "csv", "delimiter": ";", "header": False, "columns": COLUMNS},
        "location": {"files": "*.csv"},
        "mapping": {
            "subscriber_id": {"field": "a_number", "msisdn": {"country_code": "44"}},
            "event_time": {"field": "start_time", "format": "%Y%m%d%H%M%S", "timezone": "Europe/London"},
            "event_type": {
                "field": "call_type",
                "lookup": {
                    "MOC": "voice_call",
                    "MTC": "voice_call",
                    "SMSMO": "sms",
                    "SMSMT": "sms",
                    "GPRS": "data_session",
                },
            },
            "value": {
                "by_type": {
                    "voice_call": {"field": "duration", "unit": "s"},
                    "data_session": {"field": "volume_kb", "unit": "kB"},
                }
            },
            "attributes": {
                "direction": {
                    "field": "call_type",
                    "lookup": {"MOC": "out", "MTC": "in", "SMSMO": "out", "SMSMT": "in", "GPRS": None},
                },
                "roaming": "roaming",
                "cell": "cell",
            },
            "natural_key": ["record_id"],
        },
    }
)


def write_cdrs(path: Path, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    subscribers = rng.integers(0, 1_000_000, rows)
    start = np.datetime64("2026-11-01T00:00:00") + rng.integers(0, 7 * 86400, rows).astype("timedelta64[s]")
    codes = np.array(["MOC", "MTC", "SMSMO", "SMSMT", "GPRS"])[rng.integers(0, 5, rows)]
    frame = pl.DataFrame(
        {
            "record_id": pl.int_range(rows, eager=True).cast(pl.String).str.zfill(12),
            "a_number": "07700" + pl.Series(subscribers).cast(pl.String).str.zfill(6),
            "b_number": "07" + pl.Series(rng.integers(0, 10**9, rows)).cast(pl.String),
            "call_type": codes,
            "start_time": pl.Series(start.astype("datetime64[ms]")).dt.strftime("%Y%m%d%H%M%S"),
            "duration": rng.integers(1, 900, rows),
            "volume_kb": rng.integers(1, 50_000, rows),
            "cell": "CELL" + pl.Series(rng.integers(0, 5000, rows)).cast(pl.String),
            "roaming": np.array(["N", "Y"])[(rng.random(rows) < 0.03).astype(int)],
        }
    )
    frame.write_csv(path, separator=";", include_header=False)


def baseline(csv: Path, out: Path) -> float:
    started = time.perf_counter()
    pq.write_table(pacsv.read_csv(csv, parse_options=pacsv.ParseOptions(delimiter=";")), out)
    return time.perf_counter() - started


def ours(csv: Path, home: Path) -> tuple[float, int]:
    rt = Runtime.open(load_settings(home=home, timezone="Europe/London"))
    with rt.db.session() as session:
        service.save(session, SPEC)
    started = time.perf_counter()
    result = ingest_file(rt, SPEC, csv)
    elapsed = time.perf_counter() - started
    rt.db.engine.dispose()
    return elapsed, result.events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "cdr.csv"
        write_cdrs(csv, args.rows)
        size = csv.stat().st_size / 1e6
        base_times, our_times = [], []
        for run in range(args.repeat):  # interleaved, so that noise hits both alike
            base_times.append(baseline(csv, Path(tmp) / f"plain-{run}.parquet"))
            elapsed, events = ours(csv, Path(tmp) / f"home-{run}")
            assert events == args.rows, f"ingested {events} of {args.rows}"
            our_times.append(elapsed)
        base, mine = min(base_times), min(our_times)
        print(f"file: {args.rows:,} CDR rows, {size:.0f} MB; best of {args.repeat}")
        print(f"| pyarrow CSV -> Parquet (baseline) | {base:.2f} s | {args.rows / base / 1e6:.2f} M rows/s |")
        print(
            f"| questline ingest (parse, normalize, dedup, lake) | {mine:.2f} s | {args.rows / mine / 1e6:.2f} M events/s |"
        )
        print(f"| ratio ours / baseline | | {base / mine:.0%} (target >= 40%) |")


if __name__ == "__main__":
    main()
