"""Helpers shared by the benchmark scripts: thread setup, interleaved timing, the machine, saving results."""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch

from pruninglib._io import write_json
from pruninglib.tracking.provenance import cpu_name, git_commit

OUT = Path(__file__).resolve().parents[1] / "artifacts" / "benchmarks"


def setup_threads(threads: int) -> None:
    """One intra-op thread by default: on a shared 2-core machine, 2 threads that lose a core to another process
    make torch's OpenMP matrix products over ten times slower, which would swamp every ratio."""
    torch.set_num_threads(threads)


def interleaved(fns: dict[str, Callable[[], float]], reps: int) -> dict[str, list[float]]:
    """Call every function once per repetition, alternating the order, and collect what each returns."""
    names = list(fns)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        for n in (names if r % 2 == 0 else names[::-1]):
            out[n].append(fns[n]())
    return out


def timed(fn: Callable[[], Any]) -> float:
    """CPU seconds this process spent in ``fn()``: on a machine shared with other jobs, wall time would also
    count their turns on the cores (with one torch thread, CPU time is the work done)."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def median_ratio(num: list[float], den: list[float]) -> float:
    """Median over repetitions of num[i] / den[i] (pairs measured back to back)."""
    return statistics.median(a / b for a, b in zip(num, den))


def machine() -> dict[str, Any]:
    import os

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "commit": git_commit()}


def save(name: str, record: dict[str, Any]) -> Path:
    """Write ``artifacts/benchmarks/<name>.json`` (git-ignored) atomically; return its path."""
    return write_json(OUT / f"{name}.json", record)
