"""Sweeps: grids of experiment runs as data, a content-addressed run store, local and Ray engines, aggregation.

    from pruninglib.sweeps import collect, run_sweep, summarize
    run_sweep("grid.yaml", workers=2)            # or engine="ray"; the command line: pruninglib sweep grid.yaml
    cells = summarize(collect("grid.yaml"))      # mean and 95% t-interval over seeds per grid cell

:mod:`~pruninglib.sweeps.spec` reads and expands sweep files, :mod:`~pruninglib.sweeps.store` names and keeps
point records, :mod:`~pruninglib.sweeps.executors` runs calls on a process pool or on Ray (also the book's
chapters, :func:`run_chapters`), :mod:`~pruninglib.sweeps.run` ties them together, and
:mod:`~pruninglib.sweeps.collect` reads the records back as tidy frames.
"""
from pruninglib.sweeps.collect import collect, summarize
from pruninglib.sweeps.records import export, load_records, read_records, records_frame
from pruninglib.sweeps.executors import Outcome, run_chapters, run_local, run_ray
from pruninglib.sweeps.run import Plan, SweepReport, plan, run_point, run_sweep
from pruninglib.sweeps.spec import Point, Sweep, SweepError, load_sweep
from pruninglib.sweeps.store import ENV_STORE, PointBusy, RunStore, code_version, default_store, point_key

__all__ = ["collect", "summarize", "Outcome", "run_chapters", "run_local", "run_ray", "Plan", "SweepReport", "plan",
           "run_point", "run_sweep", "Point", "Sweep", "SweepError", "load_sweep", "ENV_STORE", "PointBusy", "RunStore",
           "code_version", "default_store", "point_key", "export", "load_records", "read_records",
           "records_frame"]
