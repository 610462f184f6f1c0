"""The U-Net chapter's tuning and schedule sweeps, read back from their committed records (validation images only).

* ``unet_lambda`` (grids/unet_lambda.yaml): lambda_l2 from 0 (no regularizer) up, at the frozen schedule, 3 seeds,
  with one dense run per seed: channels removed, silenced channels and validation AP against lambda; it chooses the
  headline lambda by a rule written in the grid file before the sweep ran (:func:`choose_lambda`).
* ``unet_schedule`` (grids/unet_schedule.yaml): the schedule's strength ``sparsity_scale`` with L2 and no
  regularizer: does a regularizer remove more channels than none at the same weight sparsity and accuracy
  (:func:`schedule_verdicts`)?
* ``unet_lambda_l1`` and ``unet_schedule_l1``: the same two questions for the L1 arm, its lambda chosen by the
  same rule (:func:`choose_lambda` with ``regularizer="l1"``), then its schedule sweep with its own no-regularizer
  runs.

Every table comes from per-seed values: mean and 95% Student-t interval (n = seeds), and paired differences (same
seed) for comparisons, with the three-state verdicts of :func:`~pruninglib.experiments.targets.verdict`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from pruninglib.config import UNetDSBConfig
from pruninglib.data.root import repo_root
from pruninglib.experiments.targets import MET, Target
from pruninglib.experiments.unet_dsb2018 import forced_dead, per_weight_sparsity
from pruninglib.metrics.binary import t_interval
from pruninglib.models.unet import UNet
from pruninglib.sweeps.records import load_records

AP, DICE = "shrunk_val_ap", "shrunk_val_dice"
AP_MARGIN = 0.015  # the lambda rule's bound on the mean paired validation AP drop (grids/unet_lambda.yaml)
ACCURACY_BOUND = -0.02  # "the same accuracy": regularized minus none validation AP at least this (the AP target's 0.02)


def load_study(name: str, root: str | Path | None = None) -> pd.DataFrame:
    """The record ``book/records/<name>.json`` of ``grids/<name>.yaml`` (checked against the grid) as one wide row
    per point's run: the axes, ``variant``, ``seed`` and one column per metric."""
    base = Path(root) if root is not None else (repo_root() or Path.cwd())
    tidy = load_records(base / "book" / "records" / f"{name}.json", base / "grids" / f"{name}.yaml")
    keys = [c for c in tidy.columns if c not in ("point", "chapter", "metric", "value")]
    wide = tidy.pivot_table(index=keys, columns="metric", values="value", aggfunc="first", dropna=False)
    # dropna=False keeps metrics that some runs lack, but also makes a row for every combination of the keys
    return wide.dropna(how="all").reset_index().dropna(axis=1, how="all")


def ci(values: pd.Series, scale: float = 1.0) -> dict[str, float]:
    """Mean, 95% Student-t interval (low, high; NaN for one value) and n of ``scale * values``."""
    t = t_interval((scale * values).to_numpy(dtype=float))
    return {"mean": t["mean"], "low": t["low"], "high": t["high"], "n": t["n"]}


def _paired(a: pd.DataFrame, b: pd.DataFrame, column: str, unit: str = "seed") -> pd.Series:
    """Per ``unit`` (seed, or fold), ``column`` of ``a`` minus that of ``b`` (units of ``a`` only)."""
    x, y = a.set_index(unit)[column], b.set_index(unit)[column]
    return (x - y.reindex(x.index)).dropna()


def lambda_table(runs: pd.DataFrame, regularizer: str = "l2") -> pd.DataFrame:
    """One row per ``lambda_<regularizer>`` of that regularizer's runs: mean and 95% interval over seeds of channels
    removed, silenced alive channels, weight sparsity, validation AP and its paired drop against the dense run of
    the same seed, the filters' norm spread one epoch in, and the median |gamma| of the alive channels."""
    dense = runs[runs["variant"] == "dense"]
    rows = []
    for lam, g in runs[runs["variant"] == regularizer].groupby(f"lambda_{regularizer}"):
        row: dict[str, Any] = {f"lambda_{regularizer}": lam, "n": len(g)}
        for col in ("channels_removed", "silenced_alive", "weight_sparsity", AP, "filter_norm_cv_epoch1",
                    "gamma_alive_median"):
            row.update({f"{col}_{k}": v for k, v in ci(g[col]).items() if k != "n"})
        row.update({f"ap_drop_{k}": v for k, v in ci(_paired(dense, g, AP)).items() if k != "n"})
        rows.append(row)
    return pd.DataFrame(rows)


def choose_lambda(table: pd.DataFrame, regularizer: str = "l2", smallest_if_none: bool = False) -> float:
    """The rule of grids/unet_lambda.yaml on a :func:`lambda_table`: the lambda > 0 with the largest mean channels
    removed among those with a mean paired validation AP drop of at most :data:`AP_MARGIN`; a tie goes to the
    smaller lambda. When none qualifies: the smallest lambda > 0 if ``smallest_if_none`` (the L1 grid's rule),
    else ValueError."""
    column = f"lambda_{regularizer}"
    positive = table[table[column] > 0]
    ok = positive[positive["ap_drop_mean"] <= AP_MARGIN]
    if ok.empty:
        if smallest_if_none and not positive.empty:
            return float(positive[column].min())
        raise ValueError(f"no {column} > 0 has a mean validation AP drop <= {AP_MARGIN}")
    best = ok["channels_removed_mean"].max()
    return float(ok.loc[ok["channels_removed_mean"] == best, column].min())


def per_block(runs: pd.DataFrame, by: str, cfg: UNetDSBConfig) -> pd.DataFrame:
    """Mean over seeds of the fraction of channels removed per block (columns, forward order of ``cfg``'s U-Net)
    per value of ``by`` (rows), for the L2 runs."""
    blocks = UNet(cfg.depth, cfg.base, batchnorm=cfg.batchnorm).blocks()
    g = runs[runs["variant"] == "l2"].groupby(by)[[f"channels_removed[{b}]" for b in blocks]].mean()
    return g.rename(columns=lambda c: c[len("channels_removed["):-1])


def schedule_cells(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (sparsity_scale, variant): mean and 95% interval over seeds of weight sparsity, channels removed
    and validation AP (the figure's points)."""
    rows = []
    for (scale, variant), g in runs.groupby(["sparsity_scale", "variant"], sort=True):
        row: dict[str, Any] = {"sparsity_scale": scale, "variant": variant, "n": len(g)}
        for col in ("weight_sparsity", "channels_removed", AP):
            row.update({f"{col}_{k}": v for k, v in ci(g[col]).items() if k != "n"})
        rows.append(row)
    return pd.DataFrame(rows)


def forced_by_scale(cfg: UNetDSBConfig, scales: list[float]) -> pd.DataFrame:
    """Per sparsity_scale, the fraction of channels that the scaled schedule forces dead by counting alone
    (:func:`~pruninglib.experiments.unet_dsb2018.forced_dead`), for ``cfg``'s network and level targets."""
    model = UNet(cfg.depth, cfg.base, batchnorm=cfg.batchnorm)
    levels = per_weight_sparsity(model, cfg.target_sparsity)
    return pd.DataFrame([{"sparsity_scale": s, "forced_dead": forced_dead(model, [s * t for t in levels])}
                         for s in scales])


def schedule_verdicts(runs: pd.DataFrame, regularizers: tuple[str, ...] = ("l2", "l1"), unit: str = "seed",
                      ap: str = AP) -> pd.DataFrame:
    """Per sparsity_scale and regularizer, against no regularizer on the same ``unit`` (the seed of a sweep, the
    fold of a cross-validated run): the paired difference in channels removed (target > 0) and in mean AP ``ap``
    (validation by default; target >= :data:`ACCURACY_BOUND`), each with n, mean, interval and verdict, the
    weight sparsities of both arms, and ``regularizer_removes_more``: True only where both verdicts are 'met' (the
    regularizer removes more channels than none at the same weight sparsity and accuracy)."""
    rows = []
    for scale, g in runs.groupby("sparsity_scale", sort=True):
        none = g[g["variant"] == "none"]
        for reg in regularizers:
            r = g[g["variant"] == reg]
            if r.empty or none.empty:
                continue
            more = Target(f"{reg} minus none, channels removed", tuple(_paired(r, none, "channels_removed", unit)),
                          0.0, ">")
            acc = Target(f"{reg} minus none, mean AP", tuple(_paired(r, none, ap, unit)), ACCURACY_BOUND, ">=")
            rows.append({"sparsity_scale": scale, "regularizer": reg,
                         "weight_sparsity": float(r["weight_sparsity"].mean()),
                         "weight_sparsity_none": float(none["weight_sparsity"].mean()),
                         **{f"channels_{k}": more.result[k] for k in ("n", "mean", "low", "high", "verdict")},
                         **{f"ap_{k}": acc.result[k] for k in ("mean", "low", "high", "verdict")},
                         "regularizer_removes_more": more.verdict == MET and acc.verdict == MET})
    return pd.DataFrame(rows)


def say_interval(mean: float, low: float, high: float, scale: float = 1.0, digits: int = 3) -> str:
    """'0.123 [0.100, 0.146]' (the interval left out when undefined)."""
    m = f"{scale * mean:.{digits}f}"
    return m if math.isnan(low) else f"{m} [{scale * low:.{digits}f}, {scale * high:.{digits}f}]"


def study_config(name: str, root: str | Path | None = None) -> UNetDSBConfig:
    """The config of the first point of ``grids/<name>.yaml`` (network, image size and schedule are shared by every
    point of the chapter's grids)."""
    from pruninglib.sweeps.spec import load_sweep

    base = Path(root) if root is not None else (repo_root() or Path.cwd())
    return UNetDSBConfig.from_mapping(load_sweep(base / "grids" / f"{name}.yaml").points[0].parameters)


def lambda_display(table: pd.DataFrame, regularizer: str = "l2") -> pd.DataFrame:
    """:func:`lambda_table` for reading: one row per ``lambda_<regularizer>``, 'mean [95% interval]' over seeds, in
    percent for the channel and sparsity columns."""
    cols = {"channels_removed": ("channels removed (%)", 100, 1),
            "silenced_alive": ("alive, |gamma| < 1e-3 (%)", 100, 1), "weight_sparsity": ("weight sparsity (%)", 100, 2), AP: ("validation mean AP", 1, 3),
            "ap_drop": ("AP drop vs dense", 1, 3), "filter_norm_cv_epoch1": ("filter-norm spread, epoch 1", 1, 3),
            "gamma_alive_median": ("median alive |gamma|", 1, 3)}
    column = f"lambda_{regularizer}"
    out = pd.DataFrame({column: table[column], "n": table["n"]})
    for col, (name, scale, digits) in cols.items():
        out[name] = [say_interval(m, lo, hi, scale, digits) for m, lo, hi in
                     zip(table[f"{col}_mean"], table[f"{col}_low"], table[f"{col}_high"])]
    return out.set_index(column)


def verdicts_display(verdicts: pd.DataFrame) -> pd.DataFrame:
    """:func:`schedule_verdicts` for reading: per scale and regularizer, the paired differences against no
    regularizer with their intervals and verdicts."""
    return pd.DataFrame({
        "sparsity_scale": verdicts["sparsity_scale"], "regularizer": verdicts["regularizer"],
        "weight sparsity (%), reg. / none": [f"{100 * a:.2f} / {100 * b:.2f}" for a, b in
                                             zip(verdicts["weight_sparsity"], verdicts["weight_sparsity_none"])],
        "n": verdicts["channels_n"],
        "more channels removed than none (points)": [say_interval(m, lo, hi, 100, 1) for m, lo, hi in zip(
            verdicts["channels_mean"], verdicts["channels_low"], verdicts["channels_high"])],
        "verdict (> 0)": verdicts["channels_verdict"],
        "validation AP minus none": [say_interval(m, lo, hi) for m, lo, hi in zip(
            verdicts["ap_mean"], verdicts["ap_low"], verdicts["ap_high"])],
        f"verdict (>= {ACCURACY_BOUND})": verdicts["ap_verdict"],
        "removes more at the same accuracy": verdicts["regularizer_removes_more"],
    }).set_index(["sparsity_scale", "regularizer"])


def history(root: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The records of the runs this chapter's protocol replaces (book/chapters/unet_dsb2018_paper_run*.json: 80 px,
    one split, each TESTED on the same 100 images after the previous one's schedule change) and of the validation
    probes (book/chapters/unet_dsb2018_val_probes.json): one row per record, one per probe."""
    base = Path(root) if root is not None else (repo_root() or Path.cwd())
    runs = []
    for path in sorted((base / "book" / "chapters").glob("unet_dsb2018_paper_run*.json")):
        r = json.loads(path.read_text())
        p, h = r["parameters"], r["headline"]
        runs.append({"record": path.name, "seeds": len(r["seeds"]), "epochs": p["epochs"],
                     "image size": p["image_size"], "level targets": p["target_sparsity"],
                     "lambda_l2": p["lambda_l2"], "channels removed (%)": round(100 * h["channels_removed"], 1),
                     "test AP drop": round(h["ap_drop"], 3), "test Dice drop": round(h["dice_drop"], 3)})
    probes = json.loads((base / "book" / "chapters" / "unet_dsb2018_val_probes.json").read_text())["probes"]
    rows = [{"variant": p["variant"], "change": ", ".join(f"{k} = {v}" for k, v in p["changes"].items()) or "-",
             "seed": p["seed"], "channels removed (%)": round(100 * p["channels_removed"], 1),
             "validation AP": p["val_ap"], "validation Dice": p["val_dice"]} for p in probes]
    return pd.DataFrame(runs).set_index("record"), pd.DataFrame(rows)
