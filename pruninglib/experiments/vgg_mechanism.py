"""Does the regularizer remove filters beyond what the schedule removes? The VGG chapter's schedule sweep.

The sweep trains, at each schedule strength (``sparsity_scale``, a factor on every layer's target weight sparsity)
and seed, stochastic pruning (our reconstruction) with a regularizer (L2, L1) and with none on the same schedule;
every run is measured on the validation split only. The chapter reads the full design, ``grids/vgg_schedule.yaml``
(L2, L1 and none at four strengths, 3 seeds; record ``book/records/vgg_schedule_full.json``); its smaller variant
``grids/vgg_schedule_small.yaml`` (L2 and none at two strengths, record ``book/records/vgg_schedule.json``) ran
first, under an earlier code version, and stays as the record of that run.

Filters that die without a regularizer are removed by the schedule; the regularizer's own share is the difference,
at the same schedule (hence, by construction, about the same weight sparsity), paired by seed.

The rule of the chapter's verdict: at a schedule strength, a regularizer *removes filters beyond the schedule*
when (1) its filters removed minus those of the no-regularizer run of the same seed is above 0 with its whole 95%
interval (the verdict "met" of :func:`~pruninglib.experiments.targets.verdict` for "> 0"), and (2) its shrunk
validation accuracy minus that of the no-regularizer run is not below -1 point on the mean (the paper's
tolerance; "met" or "met on the mean only" for ">= -1"). Where (1) holds but (2) is missed, the regularizer
removes more filters at a cost in accuracy, which is not the paper's claim.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pruninglib.data.root import repo_root

from pruninglib.experiments.targets import MET, MISSED, verdict
from pruninglib.metrics.binary import t_interval

GRID, RECORD = "grids/vgg_schedule.yaml", "book/records/vgg_schedule_full.json"
SMALL_GRID, SMALL_RECORD = "grids/vgg_schedule_small.yaml", "book/records/vgg_schedule.json"  # the first, smaller run
REGULARIZERS = ("l2", "l1", "none")
COLUMNS = {"filters_removed": 100.0, "weight_sparsity": 100.0, "shrunk_val_accuracy": 100.0}  # in % / points


def load(record: str = RECORD, grid: str = GRID) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The committed record of the sweep as one row per run (:func:`runs`), and the record itself (for its
    points' commits, hardware and wall times); paths relative to the repository. Refuses a record exported
    from another version of the grid."""
    from pruninglib.sweeps import read_records, records_frame  # the sweeps import the chapters (and yaml)

    root = repo_root() or Path.cwd()
    checked = read_records(root / record, root / grid)
    return runs(records_frame(checked)), checked


def runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The sweep's tidy frame (:func:`pruninglib.sweeps.load_records`) as one row per run: sparsity_scale,
    variant, seed and the :data:`COLUMNS` in percent."""
    wide = frame[frame["metric"].isin(list(COLUMNS))].pivot_table(
        index=["sparsity_scale", "variant", "seed"], columns="metric", values="value").reset_index()
    for col, scale in COLUMNS.items():
        wide[col] = scale * wide[col]
    return wide


def cells(rows: pd.DataFrame) -> pd.DataFrame:
    """Per regularizer and schedule strength: n and, for each of :data:`COLUMNS`, the mean over seeds with its
    95% interval (``<col>``, ``<col>_low``, ``<col>_high``), the table the figure takes."""
    out = []
    for (scale, variant), g in rows.groupby(["sparsity_scale", "variant"], sort=True):
        cell: dict[str, Any] = {"regularizer": variant, "sparsity_scale": scale, "n": len(g)}
        for col in COLUMNS:
            ci = t_interval(g[col].to_numpy())
            cell.update({col: ci["mean"], f"{col}_low": ci["low"], f"{col}_high": ci["high"]})
        out.append(cell)
    order = {r: i for i, r in enumerate(REGULARIZERS)}
    return pd.DataFrame(out).sort_values(["regularizer", "sparsity_scale"], key=lambda c: c.map(order)
                                         if c.name == "regularizer" else c, ignore_index=True)


def _paired(rows: pd.DataFrame, a: str, b: str, col: str) -> list[float]:
    x = rows[rows["variant"] == a].set_index("seed")[col]
    y = rows[rows["variant"] == b].set_index("seed")[col]
    seeds = sorted(set(x.index) & set(y.index))
    return [float(x[s] - y[s]) for s in seeds]


def beyond_schedule(rows: pd.DataFrame, tolerance: float = 1.0) -> pd.DataFrame:
    """Per schedule strength and regularizer (those of L2, L1 that the sweep ran): the paired differences against
    no regularizer (filters removed, weight sparsity and shrunk validation accuracy, in points; mean and 95%
    interval, n seeds), the two verdicts of the module docstring's rule and whether the point counts for the
    paper's claim."""
    out = []
    for scale, at in rows.groupby("sparsity_scale", sort=True):
        for reg in [r for r in ("l2", "l1") if r in set(at["variant"])]:
            mean = at.groupby("variant")["filters_removed"].mean()
            row: dict[str, Any] = {"sparsity_scale": scale, "regularizer": reg, "filters": float(mean[reg]),
                                   "filters_none": float(mean["none"])}
            for col, short in (("filters_removed", "filters"), ("weight_sparsity", "sparsity"),
                               ("shrunk_val_accuracy", "accuracy")):
                d = verdict(_paired(at, reg, "none", col), 0.0, ">")
                row.update({f"d_{short}": d["mean"], f"d_{short}_low": d["low"], f"d_{short}_high": d["high"],
                            "n": d["n"]})
            more = verdict(_paired(at, reg, "none", "filters_removed"), 0.0, ">")["verdict"]
            kept = verdict(_paired(at, reg, "none", "shrunk_val_accuracy"), -tolerance, ">=")["verdict"]
            row.update({"more filters": more, f"accuracy within {tolerance:g} point": kept,
                        "counts": more == MET and kept != MISSED})
            out.append(row)
    return pd.DataFrame(out)


def answer(table: pd.DataFrame) -> str:
    """The chapter's reading of :func:`beyond_schedule`, in words computed from it."""
    names = {"l2": "L2", "l1": "L1"}
    def scales(g: pd.DataFrame) -> str:
        return ", ".join(f"{s:g}" for s in g["sparsity_scale"])

    lines = []
    for reg, g in table.groupby("regularizer", sort=False):
        counted, costly = g[g["counts"]], g[(g["more filters"] == MET) & ~g["counts"]]
        if len(counted):
            lines.append(f"**{names[reg]} removes filters beyond the schedule** at sparsity_scale {scales(counted)}: "
                         f"more filters than no regularizer (interval above 0), losing at most 1 point of "
                         f"validation accuracy against it on the mean.")
        else:
            lines.append(f"**{names[reg]} does not remove filters beyond the schedule at equal accuracy** at any "
                         f"strength of this sweep.")
        if len(costly):
            lines.append(f"At sparsity_scale {scales(costly)} {names[reg]} removes more filters than no regularizer, "
                         f"but loses more than 1 point of validation accuracy against it on the mean.")
        tie = g[(g["more filters"] != MET) & (g["filters_none"] > 0)]
        if len(tie):
            lines.append(f"At sparsity_scale {scales(tie)} the filters that die with {names[reg]} "
                         f"({', '.join(f'{v:.1f}%' for v in tie['filters'])}) are not resolved above those that die "
                         f"with no regularizer ({', '.join(f'{v:.1f}%' for v in tie['filters_none'])}): there the "
                         f"schedule, not the regularizer, removes them.")
    return " ".join(lines)


def _ci(mean: float, low: float, high: float, sign: str = "+") -> str:
    return f"{mean:{sign}.1f}" if pd.isna(low) else f"{mean:{sign}.1f} [{low:{sign}.1f}, {high:{sign}.1f}]"


def table(beyond: pd.DataFrame) -> pd.DataFrame:
    """:func:`beyond_schedule` for reading: one row per strength and regularizer, differences as 'mean [interval]'
    in points."""
    out = pd.DataFrame({
        "sparsity_scale": beyond["sparsity_scale"], "regularizer": beyond["regularizer"].map({"l2": "L2", "l1": "L1"}),
        "n": beyond["n"], "filters removed %": beyond["filters"].round(1),
        "filters removed %, none": beyond["filters_none"].round(1),
        **{label: [_ci(*v) for v in zip(beyond[f"d_{k}"], beyond[f"d_{k}_low"], beyond[f"d_{k}_high"])]
           for k, label in (("filters", "filters, minus none"), ("sparsity", "weight sparsity, minus none"),
                            ("accuracy", "val. accuracy, minus none"))},
        "more filters": beyond["more filters"], "accuracy kept (>= -1)": beyond["accuracy within 1 point"],
        "beyond the schedule": beyond["counts"].map({True: "yes", False: "no"})})
    return out.set_index(["sparsity_scale", "regularizer"])


def describe(record: dict[str, Any]) -> str:
    """Markdown: what the sweep's record holds and where its points ran."""
    points = record["points"]
    commits = sorted({p["git"]["commit"][:10] + (" (uncommitted changes)" if p["git"].get("dirty") else "")
                      for p in points})
    codes = sorted({p["code"][:12] for p in points})
    hardware = sorted({p["hardware"] for p in points})
    minutes = sum(p["wall_time_s"] for p in points) / 60
    runs = sum(len(p["runs"]) for p in points)
    return (f"Record `{RECORD}` of `{record['grid']}`: {len(points)} points ({runs} runs) of the chapter "
            f"`{record['chapter']}` at its `{record['profile']}` profile; code version {', '.join(codes)}, commit "
            f"{', '.join(commits)}; {', '.join(hardware)}; {minutes:.0f} minutes of point wall time in all (on a "
            f"machine shared with other jobs).")


def overlap(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Where two sweeps' runs (:func:`runs`) share a regularizer and strength: filters removed and shrunk
    validation accuracy of each, 'mean [95% interval]' over seeds in %, one row per shared cell."""
    a, b = (cells(r).set_index(["regularizer", "sparsity_scale"]) for r in (first, second))
    shared = a.index.intersection(b.index)
    out = pd.DataFrame(index=shared)
    for col, name in (("filters_removed", "filters removed %"), ("shrunk_val_accuracy", "val. accuracy %")):
        for label, frame in (("first run", a), ("this sweep", b)):
            out[f"{name}, {label}"] = [_ci(*frame.loc[k, [col, f"{col}_low", f"{col}_high"]], sign="")
                                       for k in shared]
    return out
