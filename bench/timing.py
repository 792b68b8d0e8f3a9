"""Timing shared by the benchmarks: runs interleaved, so that a noisy neighbour on a shared machine hits them alike."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# A run in a fresh process, by name: (seconds, rows, the process's peak RSS in GB).
Measure = Callable[[str, Path], tuple[float, int, float]]


def best_of(runs: dict[str, Callable[[], int]], repeat: int) -> dict[str, tuple[float, int]]:
    """Best time (s) of each run and the row count it returned, the runs alternating `repeat` times."""
    best = dict.fromkeys(runs, (float("inf"), 0))
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            rows = run()
            best[name] = (min(best[name][0], time.perf_counter() - start), rows)
    return best


def best_in_fresh_processes(
    measure: Measure, names: Iterable[str], root: Path, repeat: int
) -> dict[str, tuple[float, int, float]]:
    """Best time, rows and highest peak RSS of each named run, each in a fresh process (so that its peak is its
    own), the runs alternating `repeat` times. `measure` must be a module-level function (it is pickled)."""
    names = list(names)
    found = dict.fromkeys(names, (float("inf"), 0, 0.0))
    spawn = multiprocessing.get_context("spawn")
    for _ in range(repeat):
        for name in names:
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                seconds, rows, peak = pool.submit(measure, name, root).result()
            print(f"  {name}: {seconds:.2f} s, peak RSS {peak:.2f} GB", flush=True)  # shows the noise
            best, _, highest = found[name]
            found[name] = (min(best, seconds), rows, max(highest, peak))
    return found
