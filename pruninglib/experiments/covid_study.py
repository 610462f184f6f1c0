"""The COVID-19 chapter's two sweeps, read back from their committed records (:mod:`pruninglib.sweeps.records`).

* **Tuning** (``grids/covid_tuning.yaml``): candidate training settings of the dense classifier, each measured on
  the inner folds of every outer fold. :func:`selection` chooses, for each outer fold separately, the candidate with
  the highest mean inner-fold AUC: the ``fold_settings`` of the final run (nested cross-validation).
* **Schedule study** (``grids/covid_schedule.yaml``): stochastic pruning (our reconstruction) with L2, L1 and no
  regularizer at several strengths of the same schedule (``sparsity_scale``), measured on inner folds.
  :func:`schedule_cells` gives channels removed, weight sparsity and AUC per (scale, regularizer) with intervals
  over the replicates (outer fold x seed); :func:`schedule_contrasts` pairs each regularizer with none, replicate by
  replicate: the paper's mechanism is supported only where a regularizer removes more channels than none at the same
  weight sparsity and AUC. :func:`random_mask_removed` is what the schedule alone would remove with zeros placed
  at random.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from pruninglib.config import CovidCNNConfig
from pruninglib.experiments.targets import MET, verdict
from pruninglib.metrics.binary import t_interval
from pruninglib.sweeps import load_records
from pruninglib.sweeps.spec import load_sweep

REPO = Path(__file__).resolve().parents[2]
TUNING = (REPO / "grids" / "covid_tuning.yaml", REPO / "book" / "records" / "covid_tuning.json")
SCHEDULE = (REPO / "grids" / "covid_schedule.yaml", REPO / "book" / "records" / "covid_schedule.json")
AXES_TUNED = ("image_size", "channels", "epochs")  # the axes of the tuning grid, in its order


def tuning_frame() -> pd.DataFrame:
    """The tuning record as a tidy frame (one row per point, run and metric), checked against its grid."""
    grid, record = TUNING
    return load_records(record, grid)


def schedule_frame() -> pd.DataFrame:
    """The schedule study's record as a tidy frame, checked against its grid."""
    grid, record = SCHEDULE
    return load_records(record, grid)


def schedule_config() -> CovidCNNConfig:
    """The config of the schedule study's first point: its network and target sparsities (before the scale)."""
    return CovidCNNConfig.from_mapping(load_sweep(SCHEDULE[0]).points[0].parameters)


def _wide(frame: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """One row per run (``keys`` + fold, setting, seed), one column per metric."""
    runs = frame[frame["metric"].isin(metrics)]
    return runs.pivot_table(index=[*keys, "fold", "setting", "seed"], columns="metric", values="value",
                            sort=False).reset_index()


def candidate_folds(frame: pd.DataFrame) -> pd.DataFrame:
    """Per candidate (the tuning axes) and outer fold: the dense net's AUC averaged over the inner folds (``auc``)
    and how many inner folds (``n``); candidates in grid order."""
    runs = _wide(frame[frame["variant"] == "dense"], AXES_TUNED, ["shrunk_val_auc"])
    out = runs.groupby([*AXES_TUNED, "fold"])["shrunk_val_auc"].agg(["mean", "size"])
    out = out.rename(columns={"mean": "auc", "size": "n"}).reset_index()
    order = {k: i for i, k in enumerate(dict.fromkeys(zip(*(frame[a] for a in AXES_TUNED))))}  # grid order
    rank = [order[k] for k in zip(*(out[a] for a in AXES_TUNED))]
    return out.assign(_rank=rank).sort_values(["_rank", "fold"], kind="stable").drop(columns="_rank")


def selection(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per outer fold, in order, the candidate with the highest mean inner-fold AUC (ties: the first in grid
    order), as a ``fold_settings`` entry: {image_size, channels, epochs}."""
    folds = candidate_folds(frame)
    chosen = []
    for _, g in folds.groupby("fold", sort=True):
        best = g.loc[g["auc"].idxmax()]  # idxmax keeps the first of equal values: grid order
        chosen.append({"image_size": int(best["image_size"]), "channels": [int(c) for c in best["channels"]],
                       "epochs": int(best["epochs"])})
    return chosen


def candidate_table(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """One row per candidate: its inner-fold AUC per outer fold, the mean over outer folds with its interval, and
    the outer folds that chose it."""
    folds = candidate_folds(frame)
    chosen = selection(frame)
    rows = []
    for key, g in folds.groupby(list(AXES_TUNED), sort=False):
        setting = dict(zip(AXES_TUNED, key))
        ci = t_interval(g["auc"], level)
        picked = [k for k, c in enumerate(chosen) if c == {**setting, "channels": list(setting["channels"])}]
        rows.append({"image size": setting["image_size"], "channels": "-".join(map(str, setting["channels"])),
                     "epochs": setting["epochs"], **{f"AUC fold {int(k)}": round(float(a), 3)
                                                     for k, a in zip(g["fold"], g["auc"])},
                     "mean AUC [95% CI]": f"{ci['mean']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]",
                     "chosen by outer folds": ", ".join(map(str, picked)) or "-"})
    return pd.DataFrame(rows)


def _replicates(frame: pd.DataFrame) -> pd.DataFrame:
    """The schedule study's runs, one row per (scale, variant, fold, seed), inner folds averaged."""
    metrics = ["channels_removed", "weight_sparsity", "shrunk_val_auc"]
    runs = _wide(frame, ["sparsity_scale", "variant"], metrics)
    return runs.groupby(["sparsity_scale", "variant", "fold", "seed"], sort=False)[metrics].mean().reset_index()


def schedule_cells(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per (sparsity_scale, variant): n and, for channels removed, weight sparsity and AUC, the mean and interval
    over the replicates (outer fold x seed). Columns ``<metric>``, ``<metric>_low``, ``<metric>_high``."""
    reps = _replicates(frame)
    rows = []
    for (scale, variant), g in reps.groupby(["sparsity_scale", "variant"], sort=True):
        row: dict[str, Any] = {"sparsity_scale": scale, "variant": variant, "n": len(g)}
        for m in ("channels_removed", "weight_sparsity", "shrunk_val_auc"):
            ci = t_interval(g[m], level)
            row.update({m: ci["mean"], f"{m}_low": ci["low"], f"{m}_high": ci["high"]})
        rows.append(row)
    return pd.DataFrame(rows)


def schedule_contrasts(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per sparsity_scale and regularizer ('l2', 'l1'): minus no regularizer, paired by (outer fold, seed), the
    difference in channels removed (points; verdict of '> 0' by :func:`~pruninglib.experiments.targets.verdict`),
    in weight sparsity (points) and in AUC, each with its interval. Columns: sparsity_scale, regularizer, n,
    removed_diff, removed_low, removed_high, removed_verdict, sparsity_diff, auc_diff, auc_low, auc_high."""
    reps = _replicates(frame).set_index(["sparsity_scale", "variant", "fold", "seed"])
    rows = []
    for scale in sorted(reps.index.get_level_values(0).unique()):
        at = reps.loc[scale]
        if "none" not in at.index.get_level_values(0):
            continue
        none = at.loc["none"]
        for reg in ("l2", "l1"):
            if reg not in at.index.get_level_values(0):
                continue
            d = (at.loc[reg] - none.reindex(at.loc[reg].index)).dropna()
            removed = verdict(100 * d["channels_removed"], 0.0, ">", level=level)
            sparsity, auc = (t_interval(100 * d["weight_sparsity"], level), t_interval(d["shrunk_val_auc"], level))
            rows.append({"sparsity_scale": scale, "regularizer": reg, "n": removed["n"],
                         "removed_diff": removed["mean"], "removed_low": removed["low"],
                         "removed_high": removed["high"], "removed_verdict": removed["verdict"],
                         "sparsity_diff": sparsity["mean"], "auc_diff": auc["mean"], "auc_low": auc["low"],
                         "auc_high": auc["high"]})
    return pd.DataFrame(rows)


def random_mask_removed(channels: Sequence[int], targets: Sequence[float], kernel: int = 3,
                        in_channels: int = 1) -> float:
    """Expected fraction of the CNN's channels whose whole filter is zero when each conv layer's zeros (fraction
    ``targets[i]``) fall uniformly at random: a channel of block i with fan-in n dies with probability about
    s_i ** n. What the schedule alone removes, with no help from training.

    Example: block 4 of the chapter's net has fan-in 64 * 9 = 576; at s = 0.999, 0.999 ** 576 = 0.56 of its 128
    channels die at random; at s = 0.9, 0.9 ** 576 is about 1e-26 and none do.
    """
    fan_in = [c * kernel * kernel for c in (in_channels, *channels[:-1])]
    dead = [c * float(np.power(s, n)) for c, s, n in zip(channels, targets, fan_in)]
    return float(sum(dead) / sum(channels))


def random_curve(cells: pd.DataFrame, channels: Sequence[int], targets: Sequence[float]) -> pd.DataFrame:
    """The schedule alone, per sparsity_scale of ``cells``: the mean scaled target over the prunable layers (conv
    blocks and head, as the runs' ``weight_sparsity``) and :func:`random_mask_removed` of the scaled conv targets."""
    scales = sorted(cells["sparsity_scale"].unique())
    return pd.DataFrame([{"sparsity_scale": s, "weight_sparsity": float(np.mean([s * t for t in targets])),
                          "channels_removed": random_mask_removed(channels, [s * t for t in targets[:len(channels)]])}
                         for s in scales])


def mechanism_findings(contrasts: pd.DataFrame) -> str:
    """The schedule study's answer in words, from :func:`schedule_contrasts`: at which strengths of the schedule a
    regularizer removes more channels than none (interval above 0) without a lower AUC (AUC interval not below 0),
    which is the only case that supports the paper's mechanism."""
    names = {"l2": "L2", "l1": "L1"}
    lines: list[str] = []
    support: dict[str, list[float]] = {}
    for reg, g in contrasts.groupby("regularizer", sort=False):
        parts = [f"x{r.sparsity_scale:g}: {r.removed_diff:+.1f} [{r.removed_low:+.1f}, {r.removed_high:+.1f}] points"
                 for r in g.itertuples()]
        support[reg] = [r.sparsity_scale for r in g.itertuples() if r.removed_verdict == MET and not r.auc_high < 0]
        lines.append(f"{names[reg]} minus no regularizer, channels removed (paired over outer folds and seeds, 95% "
                     "intervals), by strength of the schedule: " + "; ".join(parts) + ".")
    for reg, scales in support.items():
        if scales:
            lines.append(f"**{names[reg]} removes more channels than no regularizer, at no loss of AUC, at schedule "
                         f"strength(s) {', '.join(f'x{s:g}' for s in scales)}**: there the regularizer, not the "
                         "schedule, removes them.")
        else:
            lines.append(f"**At no strength of the schedule does {names[reg]} remove more channels than no "
                         "regularizer at no loss of AUC: here the schedule, not the regularizer, removes the "
                         "channels.**")
    return " ".join(lines)


def contrast_table(contrasts: pd.DataFrame) -> pd.DataFrame:
    """:func:`schedule_contrasts` for display: differences with their intervals as text, the verdict of '> 0'."""
    def ci(m: float, lo: float, hi: float, d: int) -> str:
        return f"{m:+.{d}f} [{lo:+.{d}f}, {hi:+.{d}f}]"

    return pd.DataFrame([{"schedule strength": f"x{r.sparsity_scale:g}", "regularizer": r.regularizer, "n": r.n,
                          "channels removed minus none (points)": ci(r.removed_diff, r.removed_low, r.removed_high, 1),
                          "more than none?": r.removed_verdict,
                          "weight sparsity minus none (points)": f"{r.sparsity_diff:+.2f}",
                          "AUC minus none": ci(r.auc_diff, r.auc_low, r.auc_high, 3)}
                         for r in contrasts.itertuples()]).set_index(["schedule strength", "regularizer"])
