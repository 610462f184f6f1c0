"""``pruninglib sweep FILE``: print the plan (points, done, estimate of the work), then run the rest.

    pruninglib sweep grid.yaml                      # local engine, one worker per core, one torch thread each
    pruninglib sweep grid.yaml --dry-run            # the plan only
    pruninglib sweep grid.yaml --engine ray --gpus 0.25 --address auto
    pruninglib sweep grid.yaml --export book/records/grid.json   # when every point is done: the committed record
"""
from __future__ import annotations

import argparse

from pruninglib.sweeps.records import export
from pruninglib.sweeps.run import ENGINES, Plan, SweepReport, check_engine, plan, run_sweep
from pruninglib.sweeps.spec import load_sweep
from pruninglib.sweeps.store import ENV_STORE, RunStore


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` command to the command line's subparsers; its handler is ``args.handler``."""
    p = subparsers.add_parser("sweep", help="run a grid of experiment runs (a sweep file) into the run store",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="sweep file (.yaml, .yml or .toml): chapter, profile, fixed, axes, exclude")
    p.add_argument("--store", default=None, help=f"run store folder (default ${ENV_STORE}, else runs/store)")
    p.add_argument("--engine", default="local", choices=ENGINES, help="local process pool (default) or Ray")
    p.add_argument("--workers", type=int, default=None,
                   help="local engine: worker processes (default: cores // threads)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per point (Ray: CPUs per task); default 1")
    p.add_argument("--gpus", type=float, default=0.0, help="ray engine: GPUs per point, a fraction shares one")
    p.add_argument("--address", default=None, help="ray engine: address of a running cluster (default: start one)")
    p.add_argument("--retry-failed", action="store_true", help="run failed points again")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    p.add_argument("--export", default=None, metavar="PATH",
                   help="after the run, write the sweep's record (every point's runs and provenance) to PATH")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the command; 0 when every point is done, 1 otherwise, 130 when interrupted (Ctrl-C). Bad input raises
    ConfigError before any work."""
    sweep = load_sweep(args.file)
    workers = check_engine(args.engine, args.workers, args.threads, args.gpus, args.address)
    before = plan(sweep, RunStore(args.store))
    print(describe(before, workers, args.retry_failed))
    if args.dry_run:
        return 0
    try:
        report = run_sweep(sweep, store=before.store, engine=args.engine, workers=workers, threads=args.threads,
                           gpus=args.gpus, address=args.address, retry_failed=args.retry_failed)
    except KeyboardInterrupt:  # finished points are kept; unfinished ones resume from their checkpoints
        print(f"\ninterrupted: {plan(sweep, before.store).count('done')} of {len(sweep.points)} points done; "
              "the same command runs the rest")
        return 130
    print(conclude(report))
    complete = report.count("done") == len(report.states)
    if complete and args.export:
        print(f"record: {export(sweep, args.export, before.store)}")
    return 0 if complete else 1


def describe(p: Plan, workers: int | None, retry_failed: bool) -> str:
    """The plan in words: the grid, what the store holds, and the work left (from finished points' wall time)."""
    s = p.sweep
    grid = " x ".join(f"{name}: {len(values)}" for name, values in s.axes.items()) or "no axes"
    failed = p.count("failed")
    todo = p.count("pending") + (failed if retry_failed else 0)
    lines = [f"sweep {s.path}: chapter {s.chapter}, profile {s.profile}, {len(s.points)} points ({grid} values, "
             f"{s.excluded} excluded)",
             f"store {p.store.root}: {p.count('done')} done, {failed} failed"
             + ("" if retry_failed or not failed else " (not run again without --retry-failed)")
             + f", {todo} to run"]
    per = p.seconds_per_point()
    if todo and per is None:
        lines.append("estimate: unknown until a point of this sweep finishes")
    elif todo and per is not None:
        mean, n = per
        where = f", about {todo * mean / min(workers, todo):.0f} s on {min(workers, todo)} workers" if workers else ""
        lines.append(f"estimate: {todo} points x {mean:.1f} s (mean of {n} finished) = {todo * mean:.0f} s of work"
                     + where)
    return "\n".join(lines)


def conclude(report: SweepReport) -> str:
    """What the run did: points done and reused, and every failed or unfinished point with its error."""
    p = report.plan
    ran = {o.name: o for o in report.outcomes}
    lines = [f"sweep {p.sweep.path}: {report.count('done')} of {len(report.states)} points done "
             f"({sum(o.ok for o in report.outcomes)} run now, {p.count('done')} reused), "
             f"{report.count('failed')} failed, {report.count('pending')} not finished"]
    for key, point in zip(p.keys, p.sweep.points):
        state = report.states[key]
        if state == "done":
            continue
        where = ", ".join(f"{k}={v!r}" for k, v in point.values.items())
        error = (p.store.error(key) or {}).get("error") if state == "failed" else ran[key].error if key in ran else ""
        lines.append(f"  {state} {key} ({where}): {error}"
                     + (f" [{p.store.folder(key) / 'error.json'}]" if state == "failed" else ""))
    lines.append(f"tidy records: pruninglib.sweeps.collect({str(p.sweep.path)!r}, store={str(p.store.root)!r})")
    return "\n".join(lines)
