"""Chapter "What kills the nodes?": the mechanism study of the MLP chapter, from four sweeps of its runs.

Every point is one run of the MLP chapter (:mod:`pruninglib.experiments.mlp_mnist`) with ``evaluate_test`` false,
so the study reads validation data only; the test split is read by the MLP chapter's final runs alone.

* ``lambda_l2`` / ``lambda_l1``: the regularizer's strength, stochastic pruning (our reconstruction) on the
  chapter's weight-sparsity schedule, one point per value and seed;
* ``reference``: the dense net and stochastic pruning with no regularizer (lambda 0), per seed;
* ``sharpness``: ``prune_factor`` of p(w) from near-magnitude (the chapter's value) to near-uniform, with L2 and
  with no regularizer.

The sweeps run through the sweep engine into the run store (or are read from their committed records,
``from_records``); every point of a record names its code version and commit. The study picks, on validation
data, the lambda of each regularizer that removes the most nodes while keeping the shrunk nets within
``tolerance`` points of the dense ones, and answers its questions with paired per-seed differences and their
95% intervals (typed targets: met = resolved in the stated direction).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import torch

from pruninglib.config.mechanism import MechanismConfig
from pruninglib.data.root import ENV_DATA, repo_root
from pruninglib.experiments.runner import ChapterResult, Context, Experiment, RunKey, Summary, run_experiment
from pruninglib.experiments.targets import Target, contrast, say_contrast
from pruninglib.metrics.binary import t_interval

RECORDS = Path("book") / "records" / "mlp_mechanism"
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},  # the config defaults: four sweeps of 2 points each, run live through the sweep engine (seconds)
    # the paper study (80 points, about 2 hours of one core) read from its committed records: the book's main job
    # stays within minutes; `-p from_records false` runs the sweeps (finished points are taken from the store)
    "quick": {"profile": "quick", "grid_folder": "grids/mlp_mechanism/paper", "from_records": True},
    "paper": {"profile": "paper", "grid_folder": "grids/mlp_mechanism/paper", "from_records": True},
}
PARAMETERS = ("lambda_l2", "lambda_l1", "prune_factor")  # fixed or varied, every point's value is kept
METRICS = ("nodes_removed", "shrunk_val_accuracy", "val_accuracy", "weight_sparsity", "nodes_removed[hidden 1]",
           "nodes_removed[hidden 2]")
ID = ["sweep", "variant", "seed", *PARAMETERS]


@dataclass
class Study:
    """The study's data: one wide row per point and run (``rows``), and the run card's block (``source``)."""

    rows: pd.DataFrame
    source: dict[str, Any]


@contextmanager
def data_root_for_workers(root: str) -> Iterator[None]:
    """Inside the block, $PRUNINGLIB_DATA is ``root`` (when given): the sweep's workers inherit it, while the points'
    own ``data_root`` stays empty, so their keys in the store do not depend on where the data lie."""
    saved = os.environ.get(ENV_DATA)
    if root:
        os.environ[ENV_DATA] = str(Path(root).expanduser().resolve())
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(ENV_DATA, None)
        else:
            os.environ[ENV_DATA] = saved


def record_path(cfg: MechanismConfig, kind: str) -> Path:
    """Where the committed record of a sweep lives (read with ``from_records``)."""
    return (repo_root() or Path.cwd()) / RECORDS / Path(cfg.grid_folder).name / f"{kind}.json"


class MechanismExperiment(Experiment):
    """No training of its own: ``load`` runs (or reads) the sweeps, ``summarize`` analyses them."""

    name = "mlp_mechanism"

    def seeds(self, cfg: MechanismConfig) -> list[int]:
        from pruninglib.sweeps import load_sweep  # the sweeps import the chapter registry, which imports this module

        return sorted({s for g in cfg.grid_paths.values() for s in load_sweep(g).axes.get("seed", [])})

    def load(self, cfg: MechanismConfig, device: torch.device, progress: bool) -> Study:
        from pruninglib.sweeps import export, read_records, records_frame, run_sweep  # (see seeds)

        frames, points, files = [], 0, {}
        for kind, grid in cfg.grid_paths.items():
            if cfg.from_records:
                path = record_path(cfg, kind)
            else:
                with data_root_for_workers(cfg.data_root):
                    report = run_sweep(grid, workers=cfg.workers or None, threads=1, progress=progress)
                failed = [o for o in report.outcomes if not o.ok]
                if failed:
                    raise RuntimeError(f"sweep {grid}: {len(failed)} point(s) failed, the first with: "
                                       f"{failed[0].error}")
                path = export(grid, Path(cfg.out_dir) / "records" / f"{kind}.json")
            record = read_records(path, grid)
            points += len(record["points"])
            files.update({(f["path"], f["sha256"]): f for p in record["points"] for f in p["verified_files"]})
            frames.append(records_frame(record, PARAMETERS).assign(sweep=kind))
        tidy = pd.concat(frames, ignore_index=True)
        rows = tidy.pivot_table(index=ID, columns="metric", values="value", dropna=False).reset_index()
        rows = rows.dropna(subset=["nodes_removed"])
        where = (f"the committed records in {RECORDS / Path(cfg.grid_folder).name}" if cfg.from_records else
                 "the run store (records exported into out_dir)")
        return Study(rows[[*ID, *(m for m in METRICS if m in rows)]], {
            "dataset": f"MNIST, through {points} points of four sweeps of the MLP chapter ({cfg.grid_folder})",
            "obtained": where, "verified_files": list(files.values()),
            "split": {"read": "training and validation splits only (evaluate_test false)"}})

    def runs(self, cfg: MechanismConfig, data: Study) -> list[RunKey]:
        return []

    def summarize(self, cfg: MechanismConfig, data: Study, table: pd.DataFrame, ctx: Context) -> Summary:
        rows = with_accuracy_drop(data.rows)
        curves = lambda_curves(rows)
        selected = {reg: select(curves[curves["regularizer"] == reg], cfg.tolerance) for reg in ("l2", "l1")}
        head = {"selected_lambda": selected, "tolerance_points": cfg.tolerance,
                "accuracy_falls_at": {reg: falls_at(curves[curves["regularizer"] == reg], cfg.tolerance)
                                      for reg in ("l2", "l1")},
                "schedule_cost": schedule_cost(curves), "contrasts": answers(rows, selected)}
        return Summary(head, targets(rows, selected),
                       tables={"lambda_curves": curves, "sharpness_curves": sharpness_curves(rows)},
                       runs=rows.rename(columns={"sweep": "setting"}))


EXPERIMENT = MechanismExperiment()


def run(cfg: MechanismConfig, progress: bool = True) -> ChapterResult:
    """Run (or read) the sweeps and analyse them (see module docstring)."""
    return run_experiment(EXPERIMENT, cfg, progress)


def with_accuracy_drop(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with ``accuracy_drop``: shrunk validation accuracy minus the dense net's of the same seed, in
    points (0 for the dense rows themselves)."""
    dense = rows[rows["variant"] == "dense"].set_index("seed")["val_accuracy"]
    return rows.assign(accuracy_drop=100 * (rows["shrunk_val_accuracy"] - rows["seed"].map(dense)))


def _cells(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean and 95% interval over seeds of nodes removed (%) and the accuracy drop (points), per cell of ``by``."""
    out = []
    for key, g in frame.groupby(by, sort=True):
        cell = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for col, scale in (("nodes_removed", 100.0), ("accuracy_drop", 1.0), ("weight_sparsity", 100.0)):
            ci = t_interval(scale * g[col].to_numpy())
            cell.update({col: ci["mean"], f"{col}_low": ci["low"], f"{col}_high": ci["high"]})
        out.append({**cell, "n": len(g)})
    return pd.DataFrame(out)


def lambda_curves(rows: pd.DataFrame) -> pd.DataFrame:
    """Per regularizer and lambda (0: no regularizer, the reference sweep), nodes removed and accuracy drop over
    seeds, at the chapter's p(w) (the reference and lambda sweeps share their prune_factor)."""
    none = rows[(rows["sweep"] == "reference") & (rows["variant"] == "none")]
    parts = []
    for reg in ("l2", "l1"):
        swept = rows[rows["sweep"] == f"lambda_{reg}"].assign(regularizer=reg, **{"lambda": rows[f"lambda_{reg}"]})
        parts.append(pd.concat([swept, none.assign(regularizer=reg, **{"lambda": 0.0})]))
    return _cells(pd.concat(parts), ["regularizer", "lambda"])


def sharpness_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the sharpness sweep (the chapter's prune_factor among its values) with a ``regularizer``
    column, the run's variant ('l2' or 'none')."""
    sharp = rows[rows["sweep"] == "sharpness"]
    return sharp.assign(regularizer=sharp["variant"])


def sharpness_curves(rows: pd.DataFrame) -> pd.DataFrame:
    """Per regularizer ('l2', 'none') and prune_factor, nodes removed and accuracy drop over seeds."""
    return _cells(sharpness_rows(rows), ["regularizer", "prune_factor"])


def select(curve: pd.DataFrame, tolerance: float) -> float | None:
    """The selection rule, on validation data: among the lambdas > 0 whose mean accuracy drop is at most
    ``tolerance`` points, the one with the most nodes removed (the smaller lambda on a tie); None if none
    qualifies."""
    ok = curve[(curve["lambda"] > 0) & (curve["accuracy_drop"] >= -tolerance)]
    if ok.empty:
        return None
    return float(ok.sort_values(["nodes_removed", "lambda"], ascending=[False, True]).iloc[0]["lambda"])


def falls_at(curve: pd.DataFrame, tolerance: float) -> float | None:
    """The lambda > 0 from which on accuracy has clearly fallen: the smallest lambda such that at it and at every
    larger lambda of the sweep the whole 95% interval of the accuracy drop lies more than ``tolerance`` points below
    the dense nets; None if the largest lambda does not get there. (A weak lambda that loses as much as no
    regularizer is not where the regularizer makes accuracy fall; lambda 0, the schedule alone, is reported on its
    own: :func:`schedule_cost`.)"""
    positive = curve[curve["lambda"] > 0].sort_values("lambda", ascending=False)
    start = None
    for lam, high in zip(positive["lambda"], positive["accuracy_drop_high"]):  # from the largest lambda down
        if high >= -tolerance:
            break
        start = float(lam)
    return start


def schedule_cost(curves: pd.DataFrame) -> dict[str, float]:
    """The accuracy drop (points, mean and 95% interval) of stochastic pruning with no regularizer: what the
    weight-sparsity schedule alone costs, the baseline of both lambda curves."""
    zero = curves[curves["lambda"] == 0].iloc[0]
    return {"mean": float(zero["accuracy_drop"]), "low": float(zero["accuracy_drop_low"]),
            "high": float(zero["accuracy_drop_high"])}


def _at(rows: pd.DataFrame, sweep: str, variant: str, **values: float) -> pd.DataFrame:
    sel = (rows["sweep"] == sweep) & (rows["variant"] == variant)
    for name, v in values.items():
        sel &= rows[name] == v
    return rows[sel].assign(variant=f"{variant}" + "".join(f", {k} {v:g}" for k, v in values.items()))


def answers(rows: pd.DataFrame, selected: dict[str, float | None]) -> list[dict[str, Any]]:
    """The study's comparisons as paired per-seed contrasts (:func:`~pruninglib.experiments.targets.contrast`):
    each regularizer at its selected lambda against none and against each other (nodes removed, accuracy), and
    every prune_factor against the sharpest, with L2 and with none."""
    none = _at(rows, "reference", "none")
    arms = {reg: _at(rows, f"lambda_{reg}", reg, **{f"lambda_{reg}": lam}) for reg, lam in selected.items()
            if lam is not None}
    out = []
    for a, b in (("l2", "none"), ("l1", "none"), ("l2", "l1")):
        if a in arms and (b == "none" or b in arms):
            frame = pd.concat([arms[a], none if b == "none" else arms[b]])
            names = frame["variant"].unique()
            for col, scale, what in (("nodes_removed", 100.0, "hidden nodes removed"),
                                     ("accuracy_drop", 1.0, "validation accuracy")):
                out.append({**contrast(frame, names[0], names[1], col, scale=scale), "what": what})
    sharp = sharpness_rows(rows)
    for reg in ("l2", "none"):
        frame = sharp[sharp["regularizer"] == reg]
        factors = sorted(frame["prune_factor"].unique())
        labelled = frame.assign(variant=[f"{reg}, prune_factor {f:g}" for f in frame["prune_factor"]])
        out += [{**contrast(labelled, f"{reg}, prune_factor {f:g}", f"{reg}, prune_factor {factors[0]:g}",
                            "nodes_removed", scale=100.0), "what": "hidden nodes removed"} for f in factors[1:]]
    return out


def targets(rows: pd.DataFrame, selected: dict[str, float | None]) -> list[Target]:
    """The paper's mechanism claim as targets on paired per-seed differences at the selected lambdas: each
    regularizer kills more nodes than none at the same schedule (equal weight sparsity), L2 more than L1, and the
    selected nets stay within the tolerance (their accuracy drop)."""
    none = _at(rows, "reference", "none").set_index("seed")
    out = []
    arms = {reg: _at(rows, f"lambda_{reg}", reg, **{f"lambda_{reg}": lam}).set_index("seed")
            for reg, lam in selected.items() if lam is not None}
    for reg, arm in arms.items():
        diff = 100 * (arm["nodes_removed"] - none["nodes_removed"].reindex(arm.index))
        out.append(Target(f"{reg.upper()} (lambda {selected[reg]:g}) minus no regularizer: hidden nodes removed "
                          "(points)", tuple(diff), 0.0, ">", metric="nodes_removed, paired by seed"))
    if len(arms) == 2:
        diff = 100 * (arms["l2"]["nodes_removed"] - arms["l1"]["nodes_removed"].reindex(arms["l2"].index))
        out.append(Target("L2 minus L1 at their selected lambdas: hidden nodes removed (points)", tuple(diff), 0.0,
                          ">", metric="nodes_removed, paired by seed"))
    return out


def findings(result: ChapterResult) -> str:
    """The study's answers as Markdown sentences from the headline's contrasts (resolved only where the 95%
    interval excludes 0)."""
    h = result.results["headline"]
    sel = ", ".join(f"{reg.upper()}: lambda {lam:g}" if lam is not None else f"{reg.upper()}: no lambda qualifies"
                    for reg, lam in h["selected_lambda"].items())
    falls = ", ".join(f"{reg.upper()} from lambda {lam:g}" if lam is not None else f"{reg.upper()} not within the "
                      "sweep" for reg, lam in h["accuracy_falls_at"].items())
    cost = h["schedule_cost"]
    lines = [f"Selected on validation data (most nodes removed within {h['tolerance_points']:g} points of the dense "
             f"accuracy): {sel}. With no regularizer (lambda 0) the schedule alone changes the validation accuracy "
             f"by {cost['mean']:+.3f} points [{cost['low']:+.3f}, {cost['high']:+.3f}] against the dense nets. "
             f"Accuracy has clearly fallen (at that lambda and every larger one of the sweep, the whole interval below "
             f"the tolerance): {falls}."]
    lines += ["- " + say_contrast(c, c["what"], digits=2) for c in h["contrasts"]]
    return "\n".join(lines)
