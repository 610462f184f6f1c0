"""Headline, targets, tables, findings and example panels of the U-Net / DSB 2018 chapter, from a run's outputs.

Runs are paired by their unit: the seed on a single split, the fold under cross-validation (one seed per fold).
Metric columns are named by the held-out split they were measured on: ``shrunk_test_ap`` in a final run,
``shrunk_val_ap`` in a tuning run.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pruninglib.config import UNetDSBConfig
from pruninglib.experiments.targets import Target, contrast, paired, per_seed, say_contrast
from pruninglib.metrics.binary import t_interval
from pruninglib.metrics.instances import predict_probs, segmentation_scores

NAMES = {"dense": "dense", "l2": "stochastic + L2 (our reconstruction)", "l1": "stochastic + L1 (our reconstruction)",
         "none": "stochastic, no regularizer (our reconstruction)",
         "norm": "channel norm at ramp end, same budget", "norm-oneshot": "channel norm, one-shot, no training"}
COLUMNS = {"shrunk_{split}_ap": "mean AP (DSB)", "shrunk_{split}_dice": "foreground Dice",
           "channels_removed": "channels removed", "silenced_alive": "alive channels with |gamma| < 1e-3",
           "weight_sparsity": "weight sparsity"}


def split_of(cfg: UNetDSBConfig) -> str:
    """The held-out split of a run's metrics: 'test' (final run) or 'val' (tuning run)."""
    return "test" if cfg.evaluate_test else "val"


def unit_of(cfg: UNetDSBConfig) -> str:
    """The column runs are paired by: 'fold' under cross-validation, else 'seed'."""
    return "fold" if cfg.folds else "seed"


def _stats(values: pd.Series) -> dict[str, Any]:
    ci = t_interval(values.to_numpy(dtype=float))
    return {"mean": ci["mean"], "low": ci["low"], "high": ci["high"], "n": ci["n"],
            "values": [float(v) for v in values]}


def headline(cfg: UNetDSBConfig, table: pd.DataFrame) -> dict[str, Any]:
    """Per variant, mean and 95% interval over units of every metric; with dense and the chosen variant, the
    paired drops and the chosen variant's shrunk net (sizes, surgery check)."""
    split, unit = split_of(cfg), unit_of(cfg)
    ids = {"variant", "seed", "fold", "train_s"}
    out: dict[str, Any] = {"split": split, "unit": unit, "chosen": cfg.chosen, "variants": {
        v: {c: _stats(g[c]) for c in table.columns if c not in ids and g[c].notna().all()}
        for v, g in table.groupby("variant", sort=False)}}
    have = set(table["variant"])
    if cfg.chosen in have:
        c = table[table["variant"] == cfg.chosen]
        out["shrunk"] = {"variant": cfg.chosen, "params": float(c["shrunk_params"].mean()),
                         "flops": float(c["shrunk_flops"].mean()),
                         "max_abs_diff_vs_masked": float(table["max_abs_diff"].max())}
    if {"dense", cfg.chosen} <= have:
        ap = f"shrunk_{split}_ap"
        out["drops"] = {m: _stats(pd.Series(paired(table, "dense", f"shrunk_{split}_{m}", cfg.chosen,
                                                   f"shrunk_{split}_{m}", unit))) for m in ("ap", "dice")}
        out["flops_ratio"] = float(table.loc[table["variant"] == "dense", "shrunk_flops"].mean()
                                   / table.loc[table["variant"] == cfg.chosen, "shrunk_flops"].mean())
        out["dense_ap"] = float(table.loc[table["variant"] == "dense", ap].mean())
    return out


def targets(cfg: UNetDSBConfig, table: pd.DataFrame) -> list[Target]:
    """The paper's U-Net claim on per-unit values of the chosen variant's shrunk net: at least 60% of the channels
    removed, and test mean AP and foreground Dice each at most 0.02 below the dense net of the same unit."""
    unit = unit_of(cfg)

    def drop(metric: str) -> tuple[float, ...]:
        col = f"shrunk_test_{metric}"
        return paired(table, "dense", col, cfg.chosen, col, unit)

    return [Target(f"channels removed ({cfg.chosen})", tuple(per_seed(table, cfg.chosen, "channels_removed", unit)),
                   0.6, ">=", metric=f"channels_removed ({cfg.chosen}), per {unit}"),
            Target("mean AP drop vs dense", drop("ap"), 0.02, "<=",
                   metric=f"shrunk_test_ap (dense) - shrunk_test_ap ({cfg.chosen}), same {unit}"),
            Target("foreground Dice drop vs dense", drop("dice"), 0.02, "<=",
                   metric=f"shrunk_test_dice (dense) - shrunk_test_dice ({cfg.chosen}), same {unit}")]


def metrics_table(summary: pd.DataFrame, split: str) -> pd.DataFrame:
    """One row per variant (runs' order): mean and 95% interval over units of the shrunk nets' held-out metrics,
    channels removed, silenced alive channels and weight sparsity; n."""
    rows = []
    for v, g in summary.groupby("variant", sort=False):
        row: dict[str, Any] = {"variant": NAMES.get(str(v), v), "n": len(g)}
        for col, name in COLUMNS.items():
            col = col.format(split=split)
            if col in g:
                ci = t_interval(g[col].to_numpy(dtype=float))
                row[name] = (f"{ci['mean']:.3f}" if np.isnan(ci["low"]) else
                             f"{ci['mean']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]")
        row["FLOPs after surgery (one image)"] = int(round(g["shrunk_flops"].mean()))
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def findings(cfg: UNetDSBConfig, summary: pd.DataFrame) -> str:
    """The run's comparisons as Markdown: each a paired per-unit difference with its 95% interval, called resolved
    only when the interval excludes 0."""
    split, unit, chosen = split_of(cfg), unit_of(cfg), cfg.chosen
    have = set(summary["variant"])
    ap = f"shrunk_{split}_ap"
    pairs = [(chosen, "none", "channels_removed", 100, " points", "channels removed"),
             (chosen, "none", ap, 1, "", f"{split} mean AP"),
             (chosen, "dense", ap, 1, "", f"{split} mean AP"),
             (chosen, "norm", ap, 1, "", f"{split} mean AP at the same channels per block"),
             ("norm", "norm-oneshot", ap, 1, "", f"{split} mean AP")]
    lines = []
    for a, b, col, scale, what_unit, what in pairs:
        if {a, b} <= have and a != b:
            c = contrast(summary, a, b, col, scale=scale, by=unit)
            lines.append("- " + say_contrast({**c, "a": NAMES[a], "b": NAMES[b]}, what, what_unit,
                                             digits=1 if scale == 100 else 3))
    return f"Paired by {unit} (n = {summary[unit].nunique()}):\n\n" + "\n".join(lines)


def example_panels(result: Any, cfg: UNetDSBConfig) -> tuple[np.ndarray, dict[str, np.ndarray], list[list[str]]]:
    """The first ``cfg.examples`` held-out images (by id) of the first fold with the ground truth, the dense net's
    and the chosen variant's shrunk net's instances; titles carry each panel's nuclei count and AP."""
    split, fold = split_of(cfg), 0
    ids = result.data.parts[fold][split][:cfg.examples]
    images = result.data.images
    idx = images.index(ids).to(images.x.device)
    x, labels = images.x[idx], images.labels[idx].cpu().numpy()
    unit = (0, cfg.seeds[0]) if cfg.folds else (cfg.seeds[0],)
    panels = {"ground truth": labels}
    titles = [[f"{int(lab.max())} nuclei"] for lab in labels]
    for name, net in (("dense", result.shrunk[("dense", *unit)]),
                      (f"shrunk {cfg.chosen}", result.shrunk[(cfg.chosen, *unit)])):
        s = segmentation_scores(predict_probs(net, x), labels)
        panels[name] = s["instances"]
        for t, n, a in zip(titles, s["n_pred"], s["ap"]):
            t.append(f"{int(n)} found, AP {a:.2f}")
    return x[:, 0].cpu().numpy(), panels, titles
