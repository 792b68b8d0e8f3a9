"""Timing shared by the benchmarks: runs interleaved, so that a noisy neighbour on a shared machine hits them alike."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(runs: dict[str, Callable[[], int]], repeat: int) -> dict[str, tuple[float, int]]:
    """Best time (s) of each run and the row count it returned, the runs alternating `repeat` times."""
    best = dict.fromkeys(runs, (float("inf"), 0))
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            rows = run()
            best[name] = (min(best[name][0], time.perf_counter() - start), rows)
    return best
