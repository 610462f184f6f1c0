"""Aggregation: the records of a sweep (or of a whole store) as one tidy DataFrame, and intervals per grid cell.

    frame = collect("grid.yaml")                   # point, chapter, <axes>, variant, seed, metric, value
    cells = summarize(frame[frame.metric == "nodes_removed"])   # mean and 95% t-interval over seeds per cell
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from pruninglib.metrics.binary import t_interval
from pruninglib.sweeps.run import plan
from pruninglib.sweeps.spec import SEED, SUFFIXES, Sweep, load_sweep
from pruninglib.sweeps.store import RunStore

# The identity keys of a row of results.json "runs" (schema pruninglib-results/1); its other keys are metrics.
ID_KEYS = ("variant", "seed", "fold", "setting")


def collect(source: Sweep | str | Path, store: RunStore | str | Path | None = None) -> pd.DataFrame:
    """One row per finished point, run and metric, read from the records' ``runs`` rows.

    ``source`` is a sweep or its file: its finished points in ``store`` (default: the default store), with the
    sweep's axes as columns (the ``seed`` axis is the runs' own ``seed`` column). Or ``source`` is a store folder:
    every finished point in it, with the parameters (and code version) that differ between them as columns.
    Columns: ``point`` (the key), ``chapter``, the axes, the run's identity keys (``variant``, ``seed``, and
    ``fold`` or ``setting`` where the chapter has them), ``metric``, ``value``. Unfinished points are left out.
    """
    if isinstance(source, Sweep) or Path(source).suffix in SUFFIXES:
        sweep = source if isinstance(source, Sweep) else load_sweep(source)
        run_store = store if isinstance(store, RunStore) else RunStore(store)
        p = plan(sweep, run_store)
        points = [(k, {n: v for n, v in pt.values.items() if n != SEED})
                  for k, pt in zip(p.keys, sweep.points) if p.states[k] == "done"]
    else:
        run_store = RunStore(source)
        done = [k for k in run_store.keys() if run_store.state(k) == "done"]
        described = {k: {**run_store.point(k)["parameters"], "code": run_store.point(k)["code"]} for k in done}
        names = sorted({n for d in described.values() for n in d} - {"seeds"})  # the runs carry their seed
        varying = [n for n in names if len({json.dumps(d.get(n), sort_keys=True) for d in described.values()}) > 1]
        points = [(k, {n: described[k].get(n) for n in varying}) for k in done]
    entries = []
    for key, axes in points:
        record = run_store.results(key)
        if not isinstance(record.get("runs"), list):
            raise ValueError(f"{run_store.folder(key) / 'results.json'} has no 'runs' list of per-run rows "
                             "(schema pruninglib-results/1); re-run the point with this version of pruninglib")
        entries.append((key, record.get("chapter"), axes, record["runs"]))
    return frame_of(entries)


def frame_of(entries: Sequence[tuple[str, Any, dict[str, Any], list[dict[str, Any]]]]) -> pd.DataFrame:
    """The tidy frame of (point key, chapter, axes, runs rows) entries: one row per point, run and metric."""
    rows = []
    for key, chapter, axes, runs in entries:
        axes = {n: tuple(v) if isinstance(v, list) else v for n, v in axes.items()}  # hashable, for groupby
        for run in runs:
            ids = {k: v for k, v in run.items() if k in ID_KEYS or not _is_number(v)}
            rows += [{"point": key, "chapter": chapter, **axes, **ids, "metric": metric, "value": float(value)}
                     for metric, value in run.items() if metric not in ids]
    return pd.DataFrame(rows, columns=None if rows else ["point", "chapter", "metric", "value"])


def summarize(frame: pd.DataFrame, over: Sequence[str] = (SEED,), level: float = 0.95) -> pd.DataFrame:
    """Mean and two-sided Student-t interval of ``value`` over ``over`` (seeds by default) per grid cell.

    A cell is one combination of every other column of ``frame`` except ``point`` (so each metric of each variant
    at each axis value is its own cell). Returns one row per cell: its columns, ``n``, ``mean``, ``sd``, ``low``
    and ``high`` (NaN bounds for a single value), from :func:`pruninglib.metrics.binary.t_interval`.
    """
    keys = [c for c in frame.columns if c not in {*over, "point", "value"}]
    rows = [{**dict(zip(keys, cell)), **t_interval(group["value"].to_numpy(), level)}
            for cell, group in frame.groupby(keys, dropna=False, sort=False)]
    return pd.DataFrame(rows)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
