"""The relevance chapter's summary: checkpoints after each crop, typed targets, headline, tables and findings.

Pure functions of the runs table and the gate's rows (``crops.csv``), so they are tested without training.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from pruninglib.data.root import repo_root
from pruninglib.experiments.common import mean_std
from pruninglib.experiments.runner import ChapterResult
from pruninglib.experiments.targets import MEAN_ONLY, MET, MISSED, Target, paired, verdict

AUTHORS_DENSE = 0.9926  # the authors' dense LeNet-5 test accuracy on MNIST (120 epochs)
CROPPED = ("relevance", "crop_only")  # the gated-crop variants: with the decay, and with gamma0 = 0
TIMING = ("book/records/relevance_lenet5/timing.json", "grids/relevance_lenet5/timing.yaml")  # record, grid
BUDGET_S = 1800.0  # the paper profile's training budget: about 30 minutes of one CPU core
LABELS = {"dense": "dense", "relevance": "relevance-weighted decay + crops", "crop_only": "crops only (gamma0 = 0)"}


def timing(root: Path | None = None) -> pd.DataFrame:
    """Per arm, training seconds per epoch (wall clock and CPU) from the committed timing record (``TIMING``: one
    epoch of each arm, seed 0, validation only), read from the repository at ``root`` (default: this checkout)."""
    from pruninglib.sweeps import read_records  # the sweeps import the chapter registry, which imports this module

    base = root or repo_root() or Path.cwd()
    (point,) = read_records(base / TIMING[0], base / TIMING[1])["points"]
    return pd.DataFrame([{"variant": r["variant"], "wall s per epoch": r["train_s"] / r["epochs_trained"],
                          "CPU s per epoch": r["train_cpu_s"] / r["epochs_trained"]}
                         for r in point["runs"]]).set_index("variant")


def epochs_that_fit(cpu_per_epoch: pd.Series, seeds: int, budget_s: float = BUDGET_S) -> int:
    """The most whole epochs for which ``seeds`` runs of every arm (CPU seconds per epoch each) fit ``budget_s``."""
    return math.floor(budget_s / (seeds * float(cpu_per_epoch.sum())))


def after_each_crop(crops: pd.DataFrame) -> pd.DataFrame:
    """The nets the authors checkpoint: the evaluations that triggered a crop, i.e. the net after k earlier crops
    once it had recovered above the bound. One row per (variant, seed, k) with sparsity, compression and the
    accuracies recorded (validation, and test when the run read it)."""
    columns = ["variant", "seed", "crops_before", "step", "sparsity", "compression", "val_accuracy"]
    if crops.empty:
        return pd.DataFrame(columns=columns)
    c = crops[crops["cropped"]].copy()
    c["compression"] = 1.0 / (1.0 - c["sparsity"])
    return c[columns + [k for k in ("test_accuracy",) if k in c.columns]]


def formula_gaps(seeds: tuple[int, ...], checkpoints: pd.DataFrame, tau: float) -> list[float]:
    """Per cropped run (variants of :data:`CROPPED` in order, then ``seeds`` in order), the largest
    |sparsity after k crops - (1 - (1 - tau)^k)| over its crops; 0 for a run without a crop."""
    gap = (checkpoints["sparsity"] - (1 - (1 - tau) ** checkpoints["crops_before"])).abs()
    worst = gap.groupby([checkpoints["variant"], checkpoints["seed"]]).max()
    return [float(worst.get((v, s), 0.0)) for v in CROPPED for s in seeds]


def targets(cfg: Any, table: pd.DataFrame, checkpoints: pd.DataFrame) -> list[Target]:
    """The sparsity formula holds after every crop of every cropped run (an exact check); the relevance nets keep
    the bound B on the test split; the dense nets reach 99%; and, paired by seed (the crop-only run of a seed
    starts from the same weights and sees the same batches), the decay's effect on test accuracy and on the
    sparsity the gate allowed. Values in percent or points."""
    dense = table[table["variant"] == "dense"]
    out = [
        Target("largest gap between the sparsity after k crops and 1-(1-tau)^k (points), every cropped run",
               tuple(100 * g for g in formula_gaps(cfg.seeds, checkpoints, cfg.tau)), 0.01, "<=",
               metric="crops.csv, per variant and seed", kind="every"),
        Target("final test accuracy of the relevance nets (%)",
               tuple(100 * table[table["variant"] == "relevance"].sort_values("seed")["test_accuracy"]),
               100 * cfg.bound, ">=", metric="test_accuracy (relevance)", note="the bound B"),
    ]
    if len(dense):
        out.append(Target(f"our dense test accuracy (%), authors {100 * AUTHORS_DENSE:.2f} after 120 epochs",
                          tuple(100 * dense.sort_values("seed")["test_accuracy"]), 99.0, ">=",
                          metric="test_accuracy (dense)"))
    out += [Target("relevance minus crop-only final test accuracy (points), same seed",
                   tuple(100 * v for v in paired(table, "relevance", "test_accuracy", "crop_only", "test_accuracy")),
                   0.0, ">", metric="test_accuracy (relevance - crop_only), same seed",
                   note="does the decay make the crops cheaper?"),
            Target("relevance minus crop-only final weight sparsity (points), same seed",
                   tuple(100 * v for v in paired(table, "relevance", "weight_sparsity", "crop_only",
                                                 "weight_sparsity")),
                   0.0, ">", metric="weight_sparsity (relevance - crop_only), same seed",
                   note="does the decay let the gate open more often?")]
    return out


def headline(table: pd.DataFrame, checkpoints: pd.DataFrame, split: str) -> dict[str, Any]:
    """Per variant the accuracy on ``split`` ('test', or 'val' for a tuning run), and for the cropped ones the
    sparsity, crops, compression and the shrunk nets; the relevance net at each seed's last crop."""
    metric = f"{split}_accuracy"
    out: dict[str, Any] = {"split": split}
    for v, rows in table.groupby("variant", sort=False):
        out[str(v)] = {"metric": metric, "value": mean_std(rows[metric])}
        if v in CROPPED:
            out[str(v)].update(weight_sparsity=mean_std(rows["weight_sparsity"]), crops=mean_std(rows["crops"]),
                               compression=mean_std(1.0 / (1.0 - rows["weight_sparsity"])))
    out["dense"] = {**out.get("dense", {"metric": metric, "value": None}), "authors_value": AUTHORS_DENSE}
    rel = table[table["variant"] == "relevance"]
    out["shrunk"] = {"metric": metric, "value": mean_std(rel[f"shrunk_{metric}"]),
                     "params": mean_std(rel["shrunk_params"]), "flops": mean_std(rel["shrunk_flops"]),
                     "nodes_removed": mean_std(rel["nodes_removed"]),
                     "max_abs_diff_vs_masked": float(rel["max_abs_diff"].max())}
    last = checkpoints[checkpoints["variant"] == "relevance"].sort_values(["seed", "step"]).groupby("seed").tail(1)
    out["last_checkpoint"] = ({"metric": f"{metric} at the last crop", "value": mean_std(last[metric]),
                               "weight_sparsity": mean_std(last["sparsity"])} if len(last) else None)
    return out


def crop_table(checkpoints: pd.DataFrame, split: str) -> pd.DataFrame:
    """Mean ± std over seeds of sparsity, compression and accuracies, by variant and number of earlier crops."""
    g = checkpoints.groupby(["variant", "crops_before"], sort=False)
    cols = ["val_accuracy"] + (["test_accuracy"] if split == "test" else [])
    out = pd.DataFrame({"seeds": g.size(), "weight sparsity %": (100 * g["sparsity"].mean()).round(2),
                        "compression x": g["compression"].mean().round(3)})
    for c in cols:
        out[c.replace("_accuracy", " accuracy %")] = [f"{100 * m:.2f} ± {100 * s:.2f}" for m, s in
                                                      zip(g[c].mean(), g[c].std(ddof=1).fillna(0.0))]
    out.index = out.index.set_names(["variant", "crops before"])
    return out.rename(index=LABELS, level="variant")


def findings(result: ChapterResult) -> str:
    """The run's main observations as Markdown sentences, computed from its numbers (true at every profile)."""
    r, t, crops = result.results, result.summary, result.tables["crops"]
    split = r["headline"]["split"]
    metric, where = f"{split}_accuracy", "test" if split == "test" else "validation"
    lines = []
    for v in CROPPED:
        rows = t[t["variant"] == v]
        n, evals = len(rows), len(crops[crops["variant"] == v]) // max(len(rows), 1)
        spread = rows["crops"].std(ddof=1) if n > 1 else 0.0
        lines.append(f"{LABELS[v].capitalize()}: over {n} seed(s) the gate opened **{rows['crops'].mean():.1f} ± "
                     f"{spread:.1f}** times out of {evals} evaluations per run, for a final weight sparsity of "
                     f"**{100 * rows['weight_sparsity'].mean():.1f}%** (compression "
                     f"{(1 / (1 - rows['weight_sparsity'])).mean():.2f}x) at a final {where} accuracy of "
                     f"**{100 * rows[metric].mean():.2f}%**.")
    ck = after_each_crop(crops)
    if len(ck):
        first = ck[ck["crops_before"] == 0]["step"]
        lines.append(f"The first crop came after {first.mean():.0f} steps on average: the bound of "
                     f"{100 * r['parameters']['bound']:.1f}% must first be reached by the dense net.")
    rel, base = (t[t["variant"] == v].set_index("seed") for v in CROPPED)
    same = int((rel["crops"] == base["crops"].reindex(rel.index)).sum())
    reading = {MET: "the decay helped (the interval lies above 0)",
               MEAN_ONLY: "ahead on the mean only (no interval above 0): not resolved by these seeds",
               MISSED: "the decay did not help (behind or level on the mean)"}
    diff = verdict([100 * d for d in paired(t, "relevance", metric, "crop_only", metric)], 0.0, ">")
    ci = "no interval" if diff["n"] < 2 else f"95% interval [{diff['low']:+.2f}, {diff['high']:+.2f}]"
    lines.append(f"Paired by seed, relevance minus crop-only final {where} accuracy: **{diff['mean']:+.2f} points** "
                 f"({ci}, n = {diff['n']}): {reading[diff['verdict']]}. {same} of {len(rel)} seed(s) made the same "
                 f"number of crops in both runs, i.e. were compared at equal weight sparsity.")
    dense = r["headline"]["dense"]["value"]
    if dense:
        lines.append(f"Our dense LeNet-5 reached {100 * dense['mean']:.2f}% {where} accuracy after "
                     f"{r['parameters']['epochs']} epoch(s) ({len(dense['per_seed'])} seed(s)); the authors report "
                     f"{100 * AUTHORS_DENSE:.2f}% test accuracy after 120.")
    return " ".join(lines)
