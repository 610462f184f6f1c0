"""Summaries of the VGG-16 / CIFAR-10 chapter: the headline and targets of results.json, the accuracy curve from
the dynamics, and the tables and sentences the notebook shows. Pure functions of the run's tables and record."""
from __future__ import annotations

from typing import Any

import pandas as pd

from pruninglib.config import VGGCifarConfig
from pruninglib.experiments.targets import Target, paired, per_seed

NAMES = {"dense": "dense", "l2": "stochastic + L2", "l1": "stochastic + L1", "none": "stochastic, no regularizer",
         "l1_norm": "L1-norm filter pruning (Li et al.)", "slimming": "network slimming (Liu et al.)"}


def curve_from_dynamics(dynamics: pd.DataFrame, variants: tuple[str, ...]) -> pd.DataFrame:
    """Per stochastic variant and epoch >= 1: the fraction of filters dead (filter-weighted over layers) and the
    validation accuracy. Columns: method, kind, epoch, fraction_removed, accuracy."""
    d = dynamics[dynamics["variant"].isin(variants)]
    if d.empty:
        return pd.DataFrame(columns=["method", "kind", "epoch", "fraction_removed", "accuracy"])
    sizes = d[d["metric"] == "fan_in_norm"].groupby(["variant", "epoch", "layer"]).size().rename("n")
    alive = d[d["metric"] == "alive_fraction"].set_index(["variant", "epoch", "layer"])["value"]
    a = pd.concat([alive, sizes], axis=1).reset_index()
    a["dead"] = (1 - a["value"]) * a["n"]
    g = a.groupby(["variant", "epoch"])[["dead", "n"]].sum()
    removed = (g["dead"] / g["n"]).rename("fraction_removed")
    acc = d[(d["metric"] == "accuracy") & (d["split"] == "val")].set_index(["variant", "epoch"])["value"]
    out = pd.concat([removed, acc.rename("accuracy")], axis=1).reset_index().rename(columns={"variant": "method"})
    out["kind"] = "during training, by epoch (val)"
    return out[out["epoch"] > 0]


def headline(cfg: VGGCifarConfig, table: pd.DataFrame, kept: dict[str, list[int]]) -> dict[str, Any]:
    """Dense and per-method metrics (with ``kept``, the filters per layer after surgery) and the chosen variant's
    shrunk net (one seed)."""
    by = table.set_index("variant")
    dense, chosen = by.loc["dense"], by.loc[cfg.chosen]
    keys = ("test_accuracy", "shrunk_test_accuracy", "filters_removed", "params", "nonzero_params", "flops",
            "shrunk_params", "shrunk_flops", "max_abs_diff", "max_abs_diff_float32")
    methods = {m: {k: (float(by.loc[m, k]) if "accuracy" in k or "removed" in k or "diff" in k
                       else int(by.loc[m, k])) for k in keys} | {"filters_kept": kept[m]}
               for m in by.index}
    pruned = by.drop(index="dense")
    return {
        "dense": {"metric": "test_accuracy", "value": float(dense["test_accuracy"]), "params": int(dense["params"]),
                  "flops": int(dense["flops"])},
        "methods": methods,
        "shrunk": {"variant": cfg.chosen, "metric": "test_accuracy", "value": float(chosen["shrunk_test_accuracy"]),
                   "params": int(chosen["shrunk_params"]), "flops": int(chosen["shrunk_flops"]),
                   "flops_ratio": float(dense["flops"] / chosen["shrunk_flops"]),
                   "params_ratio": float(dense["params"] / chosen["shrunk_params"]),
                   "max_abs_diff_vs_masked": float(pruned["max_abs_diff"].max()),
                   "max_abs_diff_vs_masked_float32": float(pruned["max_abs_diff_float32"].max()),
                   "max_abs_diff_note": "largest |masked - shrunk| over all test logits and pruned methods, nets "
                                        "evaluated in float64 (and, for the float32 value, in float32)"},
    }


def targets(cfg: VGGCifarConfig, table: pd.DataFrame) -> list[Target]:
    """The paper's VGG claim on the chosen variant: 60% of the filters removed, a dense net of at least 92.5%,
    the shrunk net within 1 point of the dense one (one value per seed)."""
    gap = paired(table, cfg.chosen, "shrunk_test_accuracy", "dense", "test_accuracy")
    return [Target("conv filters removed (%)", tuple(100 * per_seed(table, cfg.chosen, "filters_removed")), 60.0,
                   ">=", metric=f"filters_removed ({cfg.chosen})"),
            Target("dense test accuracy (%)", tuple(100 * per_seed(table, "dense", "test_accuracy")), 92.5, ">=",
                   metric="test_accuracy (dense)"),
            Target("shrunk minus dense test accuracy (points)", tuple(100 * g for g in gap), -1.0, ">=",
                   metric=f"shrunk_test_accuracy ({cfg.chosen}) - test_accuracy (dense), same seed")]


def methods_table(result: Any) -> pd.DataFrame:
    """One row per method: filters removed, test accuracy of the shrunk net and its change against dense,
    parameters and FLOPs of the shrunk net (relative to dense), the surgery check."""
    t = result.summary.set_index("variant")
    dense = t.loc["dense"]
    out = pd.DataFrame({
        "filters removed %": (100 * t["filters_removed"]).round(1),
        "test accuracy %": (100 * t["shrunk_test_accuracy"]).round(2),
        "vs dense (points)": (100 * (t["shrunk_test_accuracy"] - dense["test_accuracy"])).round(2),
        "parameters": t["shrunk_params"].astype(int),
        "FLOPs ratio (dense / this)": (dense["flops"] / t["shrunk_flops"]).round(2),
        "max |masked - shrunk| (float64)": t["max_abs_diff"].map(lambda v: f"{v:.1e}"),
    })
    out.index = [NAMES.get(m, m) for m in out.index]
    return out


def speed_table(result: Any) -> pd.DataFrame:
    """Dense vs shrunk (chosen variant): CPU latency per batch size, GPU throughput when measured, FLOPs."""
    r = result.results
    gpu, chosen = r["headline"]["gpu_speed"], r["headline"]["shrunk"]["variant"]
    t = result.summary.set_index("variant")
    rows = {}
    for name, flops in (("dense", t.loc["dense", "flops"]), (f"shrunk {chosen}", t.loc[chosen, "shrunk_flops"])):
        key = "dense" if name == "dense" else "shrunk"
        row = {f"CPU ms, {b.replace('_', ' ')}": v for b, v in r["latency_ms"][key].items()}
        if gpu:
            row["GPU images/s (batch 512)"] = gpu["images_per_s"][key]
        row["MFLOPs per image"] = round(flops / 1e6, 2)
        rows[name] = row
    table = pd.DataFrame(rows).T
    ratio = {c: round(table.loc["dense", c] / table.loc[f"shrunk {chosen}", c], 2) if "images/s" not in c
             else round(table.loc[f"shrunk {chosen}", c] / table.loc["dense", c], 2) for c in table.columns}
    table.loc["speedup (dense / shrunk)"] = ratio
    return table


def findings(result: Any) -> str:
    """The run's main observations as Markdown sentences, computed from its numbers (true at every profile)."""
    r, t = result.results, result.summary.set_index("variant")
    h = r["headline"]
    chosen, dense = h["shrunk"]["variant"], t.loc["dense", "test_accuracy"]
    stoch = [v for v in ("l2", "l1", "none") if v in t.index]
    lines = ["Fraction of conv filters that died under stochastic pruning (same weight-sparsity schedule): " +
             ", ".join(f"**{100 * t.loc[v, 'filters_removed']:.1f}%** with {NAMES[v].split(', ')[-1]}"
                       for v in stoch) + "."]
    lines.append(f"The shrunk {NAMES[chosen]} net reaches {100 * t.loc[chosen, 'shrunk_test_accuracy']:.2f}% test "
                 f"accuracy against {100 * dense:.2f}% for the dense net "
                 f"({100 * (t.loc[chosen, 'shrunk_test_accuracy'] - dense):+.2f} points), with "
                 f"{h['shrunk']['flops_ratio']:.2f}x fewer FLOPs.")
    base = [b for b in ("l1_norm", "slimming") if b in t.index]
    if base:
        lines.append("At the same filter budget, after fine-tuning: " + ", ".join(
            f"{NAMES[b]} {100 * t.loc[b, 'shrunk_test_accuracy']:.2f}% "
            f"({100 * (t.loc[b, 'shrunk_test_accuracy'] - dense):+.2f} points)" for b in base) + ".")
    return " ".join(lines)
