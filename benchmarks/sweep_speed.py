"""Speed of a sweep: the 4-point MLP smoke grid (grids/smoke.yaml) run serially, on 2 local workers, and on Ray.

*Serial* is ``pruninglib sweep --workers 1`` (the points one after the other), *local* ``--workers 2``, *Ray*
``--engine ray`` on a local Ray instance it starts (one CPU per point, so two at a time on two cores); every point
has one torch thread. Each repetition runs the three as fresh commands into fresh stores, in alternating order,
and times the whole command's wall clock (start-up included: that is what a user waits for). Reported: the
median over repetitions of serial / local (the speed-up of two workers) and Ray / local (Ray's overhead), with
their ranges, and the load average around each command (the machine may be shared).

    PRUNINGLIB_DATA=../shared/data python -m benchmarks.sweep_speed [--reps 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import interleaved, machine, save

GRID = Path(__file__).resolve().parents[1] / "grids" / "smoke.yaml"
VARIANTS = {"serial": ["--workers", "1"], "local": ["--workers", "2"], "ray": ["--engine", "ray"]}


def sweep_seconds(options: list[str], loads: list[float]) -> float:
    """Wall seconds of one ``pruninglib sweep`` of the grid into a fresh store; appends the 1-minute load average
    at its end to ``loads``."""
    with tempfile.TemporaryDirectory() as store:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pruninglib.cli", "sweep", str(GRID), "--store", store, *options],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - t0
    loads.append(os.getloadavg()[0])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    loads: list[float] = []
    times = interleaved({name: (lambda o=options: sweep_seconds(o, loads)) for name, options in VARIANTS.items()},
                        args.reps)
    ratios = {"serial / local (speed-up of 2 workers)": [s / w for s, w in zip(times["serial"], times["local"])],
              "ray / local (overhead of Ray)": [r / w for r, w in zip(times["ray"], times["local"])]}
    for name, values in times.items():
        print(f"{name:>7}: median {statistics.median(values):6.1f} s  (" + ", ".join(f"{v:.1f}" for v in values)
              + ")")
    for name, values in ratios.items():
        print(f"{name}: median {statistics.median(values):.2f}, range {min(values):.2f}-{max(values):.2f}")
    print(f"load average (1 min) after each command: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} cores")
    path = save("sweep_speed", {"machine": machine(), "grid": str(GRID), "reps": args.reps, "seconds": times,
                                "ratios": ratios, "load_average": loads})
    print(f"saved {path}")


if __name__ == "__main__":
    main()
