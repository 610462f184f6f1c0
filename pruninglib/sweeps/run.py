"""Running a sweep: which points the store already holds, an estimate of the rest, and running the rest.

A point is one call of the chapter's experiment (``CHAPTERS.get(name).run(cfg, progress=False)``) with its
folder in the store as ``out_dir``; the experiment writes its results.json there, atomically and last.
"""
from __future__ import annotations

import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pruninglib.config import check
from pruninglib.experiments import CHAPTERS
from pruninglib.sweeps.executors import (Outcome, check_ray_resources, import_ray, plan_workers, run_local,
                                         run_ray)
from pruninglib.sweeps.spec import Point, Sweep, load_sweep
from pruninglib.sweeps.store import RunStore, code_version, point_key

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Plan:
    """A sweep against a store: each point's key and state (``done``, ``failed`` or ``pending``)."""

    sweep: Sweep
    store: RunStore
    code: str
    keys: list[str]
    states: dict[str, str]

    def count(self, state: str) -> int:
        return sum(s == state for s in self.states.values())

    def seconds_per_point(self) -> tuple[float, int] | None:
        """Mean wall time of the sweep's finished points (from their results.json) and how many; None if none."""
        times = [float(self.store.results(k)["wall_time_s"]) for k in self.keys if self.states[k] == "done"]
        return (statistics.fmean(times), len(times)) if times else None


def plan(sweep: Sweep, store: RunStore) -> Plan:
    """Key and state of every point of ``sweep`` in ``store`` (reads only)."""
    code = code_version()
    keys = [point_key(p, code) for p in sweep.points]
    return Plan(sweep, store, code, keys, {k: store.state(k) for k in keys})


def run_point(store_root: str, key: str, point: Point, code: str) -> str:
    """Run ``point`` into ``<store_root>/<key>/`` (the worker side of a sweep); return ``"done"``.

    Skips a point that another sweep finished meanwhile; raises PointBusy if another process is running it. An
    exception of the experiment is recorded in the point's ``error.json`` and raised again; after success the
    per-epoch checkpoints are deleted (only an unfinished point resumes from them). Refuses to run when
    this process's library differs from the one the sweep was planned with (a cluster node with other code).
    """
    if code_version() != code:
        raise RuntimeError(f"this worker runs pruninglib code {code_version()}, but the sweep was planned with {code}: "
                           "install the same pruninglib on every machine")
    store = RunStore(store_root)
    with store.claim(key):
        if store.state(key) == "done":
            return "done"
        store.add(key, point, code)
        store.clear_failure(key)
        chapter = CHAPTERS.get(point.chapter)
        try:
            chapter.run(chapter.config.from_mapping({**point.parameters, "out_dir": str(store.folder(key))}),
                        progress=False)
        except Exception as exc:
            store.record_failure(key, exc)
            raise
        shutil.rmtree(store.folder(key) / "checkpoints", ignore_errors=True)  # a done point never resumes
    return "done"


@dataclass(frozen=True)
class SweepReport:
    """The plan before the run, the outcome of every point run now, and every point's state after."""

    plan: Plan
    outcomes: list[Outcome]
    states: dict[str, str]

    def count(self, state: str) -> int:
        return sum(s == state for s in self.states.values())


def check_engine(engine: str, workers: int | None, threads: int, gpus: float, address: str | None) -> int | None:
    """Check the engine options (ConfigError naming the option; ImportError for Ray when it is not installed);
    return the number of local workers (None for Ray, whose scheduler decides)."""
    check(engine in ENGINES, "engine", engine, f"one of {', '.join(ENGINES)}")
    if engine == "ray":
        import_ray()
        check_ray_resources(threads, gpus)
        check(workers is None, "workers", workers, "unset with the ray engine (Ray places tasks by their resources)")
        return None
    check(gpus == 0, "gpus", gpus, "0 with the local engine (GPUs per point are declared to Ray)")
    check(address is None, "address", address, "unset with the local engine (it is a Ray cluster's address)")
    return plan_workers(workers, threads)


def run_sweep(sweep: Sweep | str | Path, *, store: RunStore | str | Path | None = None, engine: str = "local",
              workers: int | None = None, threads: int = 1, gpus: float = 0.0, address: str | None = None,
              retry_failed: bool = False, progress: bool = True) -> SweepReport:
    """Run the points of ``sweep`` that the store does not hold yet, and return what happened.

    Done points are never run again; failed points only with ``retry_failed``. ``engine`` ``"local"`` runs
    ``workers`` processes of ``threads`` torch threads each; ``"ray"`` runs one Ray task per point declaring
    ``threads`` CPUs and ``gpus`` GPUs, on a new local Ray instance or the cluster at ``address``. Every argument
    is checked, and the sweep file read and validated, before any point runs. Writes into the store only.
    """
    sweep = sweep if isinstance(sweep, Sweep) else load_sweep(sweep)
    workers = check_engine(engine, workers, threads, gpus, address)
    run_store = store if isinstance(store, RunStore) else RunStore(store)
    before = plan(sweep, run_store)
    todo = [(k, p) for k, p in zip(before.keys, sweep.points)
            if before.states[k] == "pending" or (retry_failed and before.states[k] == "failed")]
    calls = [(key, {"store_root": str(run_store.root.absolute()), "key": key, "point": point, "code": before.code})
             for key, point in todo]
    options: dict[str, Any] = {"threads": threads, "desc": f"sweep {sweep.path.name}", "progress": progress}
    outcomes = (run_local(run_point, calls, workers=workers, **options) if engine == "local" else
                run_ray(run_point, calls, gpus=gpus, address=address, **options)) if calls else []
    return SweepReport(before, outcomes, {k: run_store.state(k) for k in before.keys})
