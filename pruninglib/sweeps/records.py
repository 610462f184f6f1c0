"""Sweep records: a finished sweep exported from the (git-ignored) run store into one committed JSON file.

A chapter whose figures come from a sweep reads them from its record, so a published chapter does not have to
re-train every point, and every number it shows still traces to a point of the store: the record keeps, per point,
its key, the code version and git commit it ran under, its full parameters, the hardware, its wall time and its
``runs`` rows. A record is read only with the sweep file it came from, and only while that file, expanded with
today's profiles, gives exactly the record's points (parameters compared value by value; the profile's name is a
label, so a profile renamed with the same values still matches): an edited grid, or a profile whose values changed
under it, no longer matches its record.

    pruninglib sweep grids/mlp_study_paper.yaml --export book/records/mlp_study_paper.json
    frame = load_records("book/records/mlp_study_paper.json", "grids/mlp_study_paper.yaml")  # as collect()
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from pruninglib._io import write_json
from pruninglib.config.base import without_label
from pruninglib.sweeps.collect import frame_of
from pruninglib.sweeps.run import plan
from pruninglib.sweeps.spec import SEED, Sweep, load_sweep
from pruninglib.sweeps.store import RunStore

SCHEMA = "pruninglib-sweep-records/1"


def export(sweep: Sweep | str | Path, path: str | Path, store: RunStore | str | Path | None = None) -> Path:
    """Write the record of ``sweep`` (every point must be done in ``store``) to ``path``, atomically.

    Raises ValueError naming the unfinished points' count when the sweep is not complete.
    """
    sweep = sweep if isinstance(sweep, Sweep) else load_sweep(sweep)
    run_store = store if isinstance(store, RunStore) else RunStore(store)
    p = plan(sweep, run_store)
    missing = [k for k in p.keys if p.states[k] != "done"]
    if missing:
        raise ValueError(f"sweep {sweep.path}: {len(missing)} of {len(p.keys)} points are not done in "
                         f"{run_store.root}; run `pruninglib sweep {sweep.path}` first")
    points = []
    for key, point in zip(p.keys, sweep.points):
        r = run_store.results(key)
        points.append({"key": key, "values": {n: v for n, v in point.values.items() if n != SEED},
                       "parameters": point.parameters, "code": run_store.point(key)["code"], "git": r["git"],
                       "hardware": r["hardware"]["summary"], "started_utc": r["started_utc"],
                       "wall_time_s": r["wall_time_s"], "chapter": r["chapter"],
                       "verified_files": r["data_source"].get("verified_files", []), "runs": r["runs"]})
    return write_json(path, {"schema": SCHEMA, "grid": str(sweep.path), "chapter": sweep.chapter,
                             "profile": sweep.profile, "points": points})


def read_records(path: str | Path, grid: str | Path) -> dict[str, Any]:
    """The record at ``path``, checked against the sweep file ``grid`` it was exported from: ValueError naming
    both, and the first point that differs, when the grid no longer expands to the record's points (or the file is
    not a record)."""
    record = json.loads(Path(path).read_text())
    if record.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a sweep record (expected schema {SCHEMA!r})")
    sweep = load_sweep(grid)
    today = [_values(p.parameters) for p in sweep.points]
    recorded = [_values(p["parameters"]) for p in record["points"]]
    if sweep.chapter != record["chapter"] or today != recorded:
        where = next((f"point {i}: {_diff(a, b)}" for i, (a, b) in enumerate(zip(recorded, today)) if a != b),
                     f"chapter {record['chapter']} with {len(recorded)} points, the grid: {sweep.chapter} with "
                     f"{len(today)}")
        raise ValueError(f"{path} was exported from another version of {grid} ({where}): run `pruninglib sweep "
                         f"{grid} --export {path}` again")
    return record


def _values(parameters: dict[str, Any]) -> dict[str, Any]:
    """A point's parameters as compared: JSON values, without the profile's name."""
    return without_label(json.loads(json.dumps(parameters)))


def _diff(recorded: dict[str, Any], today: dict[str, Any]) -> str:
    names = sorted(n for n in recorded.keys() | today.keys() if recorded.get(n) != today.get(n))
    return "; ".join(f"{n} recorded {recorded.get(n)!r}, today {today.get(n)!r}" for n in names)


def load_records(path: str | Path, grid: str | Path, parameters: tuple[str, ...] = ()) -> pd.DataFrame:
    """The record's points as :func:`~pruninglib.sweeps.collect.collect` returns a sweep's: one row per point, run
    and metric, with the axes as columns, and the points' ``parameters`` named here as columns too (e.g. a
    coefficient fixed by the grid rather than varied)."""
    return records_frame(read_records(path, grid), parameters)


def records_frame(record: dict[str, Any], parameters: tuple[str, ...] = ()) -> pd.DataFrame:
    """:func:`load_records` of a record already read and checked by :func:`read_records`."""
    return frame_of([(p["key"], p["chapter"], {**{n: p["parameters"][n] for n in parameters}, **p["values"]},
                      p["runs"]) for p in record["points"]])
