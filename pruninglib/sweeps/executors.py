"""Engines that run many calls of one function: a local process pool, or Ray tasks on a local machine or a cluster.

Both take ``calls``, a list of (name, keyword arguments) with distinct names, and return one :class:`Outcome` per
call, in order. An
exception inside a call becomes a failed outcome (its message and traceback as text), so one failure never stops
the others. Every call runs with ``threads`` torch threads (and ``OMP_NUM_THREADS`` set to match, for the
processes it starts, such as notebook kernels): workers x threads must not exceed the cores, because torch's
OpenMP products slow down many times over when threads outnumber cores.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm import tqdm

from pruninglib.config import check

RAY_INSTALL = 'pip install -e ".[ray]"'

Calls = Sequence[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Outcome:
    """What one call gave: its value, or its error in one line and its traceback.

    ``finished`` is False when the call did not run to an end at all (its worker process died, or the pool broke
    before the call's turn): such a call left no record of its own and can simply be run again.
    """

    name: str
    ok: bool
    value: Any = None
    error: str = ""
    traceback: str = ""
    seconds: float = 0.0
    finished: bool = True


def cores() -> int:
    """CPU cores this process may use (its affinity mask where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def plan_workers(workers: int | None, threads: int) -> int:
    """The number of local workers: ``workers``, or as many as fit; ConfigError unless workers x threads <= cores."""
    n = cores()
    check(isinstance(threads, int) and not isinstance(threads, bool) and 1 <= threads <= n, "threads", threads,
          f"an integer from 1 to the {n} cores of this machine")
    if workers is None:
        return max(1, n // threads)
    check(isinstance(workers, int) and not isinstance(workers, bool) and 1 <= workers * threads <= n, "workers",
          workers, f"an integer >= 1 with workers x threads ({threads}) <= the {n} cores of this machine")
    return workers


def set_threads(threads: int) -> None:
    """Use ``threads`` torch threads in this process and in the processes it starts (mutates os.environ)."""
    import torch

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch.set_num_threads(threads)


def call(fn: Callable[..., Any], name: str, kwargs: dict[str, Any], threads: int,
         environ: dict[str, str] | None = None) -> Outcome:
    """Run ``fn(**kwargs)`` with ``threads`` torch threads and turn its result or exception into an Outcome.

    ``environ`` replaces this process's environment first (a local worker takes its caller's environment as it is
    now, not as it was when the fork server started).
    """
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    set_threads(threads)
    t0 = time.perf_counter()
    try:
        value = fn(**kwargs)
    except Exception as exc:  # recorded, so that the other calls go on; KeyboardInterrupt still stops
        return Outcome(name, False, error=f"{type(exc).__name__}: {exc}",
                       traceback="".join(traceback.format_exception(exc)), seconds=time.perf_counter() - t0)
    return Outcome(name, True, value, seconds=time.perf_counter() - t0)


def run_local(fn: Callable[..., Any], calls: Calls, *, workers: int | None = None, threads: int = 1,
              desc: str = "points", progress: bool = True) -> list[Outcome]:
    """Run every call in a pool of ``workers`` processes, with one progress bar.

    The workers fork from a clean server process that has imported this module and ``fn``'s (multiprocessing's
    ``forkserver``): they inherit no torch state of the caller, and later pools start without importing torch.

    ``fn`` must be importable by name (a module-level function). A worker that dies (killed, out of memory) breaks
    the pool: the calls not finished by then come back with ``finished=False``.
    """
    workers = plan_workers(workers, threads)
    outcomes: dict[str, Outcome] = {}
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, fn.__module__])  # imported once, in the server workers fork from
    pool = ProcessPoolExecutor(max_workers=min(workers, max(1, len(calls))), mp_context=context)
    try:
        futures = {pool.submit(call, fn, name, kwargs, threads, dict(os.environ)): name for name, kwargs in calls}
        with tqdm(total=len(calls), desc=desc, unit="run", disable=not progress) as bar:
            for future in as_completed(futures):
                name = futures[future]
                try:
                    outcomes[name] = future.result()
                except BrokenProcessPool as exc:
                    outcomes[name] = Outcome(name, False, error=f"not finished: a worker process died ({exc})",
                                             finished=False)
                bar.update()
                bar.set_postfix(failed=sum(not o.ok for o in outcomes.values()))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [outcomes[name] for name, _ in calls]


def import_ray() -> Any:
    """The ``ray`` module, or ImportError saying which command installs it."""
    try:
        import ray
    except ImportError:
        raise ImportError(f"--engine ray needs Ray, an optional extra; install it with: {RAY_INSTALL}") from None
    return ray


def check_ray_resources(threads: int, gpus: float) -> None:
    """ConfigError unless ``threads`` (CPUs per task) is a positive integer and ``gpus`` a fraction or a count."""
    check(isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1, "threads", threads,
          "an integer >= 1 (CPUs per task)")
    check(isinstance(gpus, (int, float)) and not isinstance(gpus, bool) and gpus >= 0
          and (gpus < 1 or float(gpus).is_integer()), "gpus", gpus, "a fraction in [0, 1) or a whole number")


def run_ray(fn: Callable[..., Any], calls: Calls, *, threads: int = 1, gpus: float = 0.0,
            address: str | None = None, desc: str = "points", progress: bool = True) -> list[Outcome]:
    """Run every call as a Ray task declaring ``threads`` CPUs and ``gpus`` GPUs (a fraction lets several share
    one), on the Ray instance of this process, else a new local one (``address=None``) or the cluster at
    ``address``. A new instance is shut down at the end. The cluster's nodes need this package installed, and
    see the run store under the same path (a shared file system)."""
    check_ray_resources(threads, gpus)
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError) as exc:  # no cluster there, or it refused us (token auth)
            raise RuntimeError(f"cannot {'join the Ray cluster at ' + address if address else 'start Ray'}: "
                               f"{str(exc).splitlines()[0]}") from exc
    remote = ray.remote(call).options(num_cpus=threads, num_gpus=gpus, max_retries=0)
    refs = {remote.remote(fn, name, kwargs, threads): name for name, kwargs in calls}
    outcomes: dict[str, Outcome] = {}
    pending = list(refs)
    try:
        with tqdm(total=len(calls), desc=desc, unit="run", disable=not progress) as bar:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                name = refs[ready[0]]
                try:
                    outcomes[name] = ray.get(ready[0])
                except ray.exceptions.RayError as exc:  # the task's worker died: no outcome came back
                    outcomes[name] = Outcome(name, False, error=f"not finished: {type(exc).__name__}: {exc}",
                                             finished=False)
                bar.update()
                bar.set_postfix(failed=sum(not o.ok for o in outcomes.values()))
    finally:
        for ref in pending:  # interrupted: stop what still runs
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()
    return [outcomes[name] for name, _ in calls]


def run_chapters(run_chapter: Callable[..., Any], chapters: Sequence[str], profile: str, out_root: str | os.PathLike,
                 *, workers: int | None = None, threads: int = 1, progress: bool = True) -> dict[str, Any]:
    """Run chapter notebooks concurrently through :func:`run_local`; return {chapter: what ``run_chapter`` returned}.

    Calls ``run_chapter(chapter=..., profile=..., out=<out_root>/<chapter>, progress=False)`` (the command
    line's function, passed in to keep this package below the command line). The notebook kernels inherit
    ``OMP_NUM_THREADS = threads``. Chapters run longest first, as measured by their last run's ``results.json``
    in the same folder (the others keep the given order), which shortens the whole when one chapter dominates.
    Raises RuntimeError naming every chapter that failed, after all have ended.
    """
    def last_seconds(name: str) -> float:
        try:
            return float(json.loads((Path(out_root) / name / "results.json").read_text())["total_wall_time_s"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0

    order = sorted(chapters, key=last_seconds, reverse=True)  # stable: unmeasured chapters keep their order
    outcomes = run_local(run_chapter, [(name, {"chapter": name, "profile": profile, "out": Path(out_root) / name,
                                               "progress": False}) for name in order],
                         workers=workers, threads=threads, desc="chapters", progress=progress)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise RuntimeError("chapters failed: " + "; ".join(f"{o.name}: {o.error}" for o in failed))
    return {o.name: o.value for o in outcomes}
