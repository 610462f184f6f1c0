"""Statistics and tables of the COVID-19 chapter: fold-based and bootstrap confidence intervals, targets.

Two kinds of interval, both at ``cfg.ci_level``:

- **over folds**: the metric on each held-out fold, then mean +- Student-t half-width (n = folds). It shows how
  much a model's quality varies with the 150-odd training images it got.
- **pooled, bootstrap**: the out-of-fold predictions of all folds pooled (every image predicted once per seed by
  a model that never saw it), the metric on the pool, and a percentile bootstrap over patient groups, stratified
  by class. It shows how much the number depends on which 191 images happened to be collected.

Neither covers the bias of the data set itself (see the data card). Final runs report the outer test folds
(columns ``shrunk_test_*``); tuning and study runs the inner validation folds (``shrunk_val_*``), averaged within
each outer fold, and have no targets.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pruninglib.config import CovidCNNConfig
from pruninglib.experiments.targets import MET, Target, contrast
from pruninglib.metrics.binary import (balanced_accuracy, bootstrap_interval, roc_auc, sensitivity, specificity,
                                       t_interval)

METRICS = ("auc", "sensitivity", "specificity", "balanced_accuracy")
LABELS = {"auc": "ROC AUC", "sensitivity": "sensitivity", "specificity": "specificity",
          "balanced_accuracy": "balanced accuracy"}
TARGET_REMOVED, TARGET_DROP = 0.5, 0.02
# The precondition of the AUC-drop target: a dense classifier that learns. "Clearly above chance": the whole
# interval of its AUC at or above 0.55, a margin of 0.05 over the 0.5 of a coin flip.
TARGET_DENSE_AUC = 0.55
# The earlier versions' trial runs, measured on the outer folds (the evidence of a classifier near chance).
TRIALS = Path(__file__).resolve().parents[2] / "book" / "chapters" / "covid_cnn_trials.json"


def per_fold(table: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """One row per (variant, outer fold), seeds (and inner folds) averaged; metrics on ``split`` ('test' or 'val')
    of the net that would be deployed (the shrunk one)."""
    cols = {f"shrunk_{split}_{m}": m for m in METRICS}
    extra = [c for c in table.columns if c.startswith("channels_removed")] + ["weight_sparsity"]
    return table.groupby(["variant", "fold"])[[*cols, *extra]].mean().rename(columns=cols).reset_index()


def _pooled(cfg: CovidCNNConfig, pred: pd.DataFrame, seed: int) -> dict[str, Any]:
    gen = np.random.default_rng(seed)
    thr = cfg.threshold
    fns = {"auc": roc_auc, "sensitivity": lambda y, s: sensitivity(y, s, thr),
           "specificity": lambda y, s: specificity(y, s, thr),
           "balanced_accuracy": lambda y, s: balanced_accuracy(y, s, thr)}
    return {m: bootstrap_interval(pred["y"].to_numpy(), pred["p_shrunk"].to_numpy(), f, resamples=cfg.bootstrap,
                                  generator=gen, level=cfg.ci_level, clusters=pred["group"].to_numpy())
            for m, f in fns.items()}


def _auc_drop(cfg: CovidCNNConfig, folds: pd.DataFrame) -> np.ndarray:
    """Per fold (in order), the dense net's AUC minus the chosen variant's shrunk net's AUC, seeds averaged."""
    by = {v: g.sort_values("fold") for v, g in folds.groupby("variant")}
    return by["dense"]["auc"].to_numpy() - by[cfg.chosen]["auc"].to_numpy()


def targets(cfg: CovidCNNConfig, table: pd.DataFrame) -> list[Target]:
    """The chapter's targets on per-fold values (seeds averaged within a fold): the dense AUC clearly above chance
    (the precondition of the AUC-drop target), at least 50% of the channels removed by the chosen variant, an AUC
    drop against dense of at most 0.02 (paired by fold), and, when the no-regularizer arm ran, more channels removed
    by the chosen regularizer than by none on the same schedule (paired by fold)."""
    folds = per_fold(table)
    by = {v: g.sort_values("fold") for v, g in folds.groupby("variant")}
    chosen = by[cfg.chosen]
    out = [Target("dense AUC, mean over outer folds", tuple(by["dense"]["auc"]), TARGET_DENSE_AUC, ">=",
                  metric="shrunk_test_auc (dense), per fold, seeds averaged",
                  note="precondition: the dense classifier is clearly better than chance"),
           Target(f"channels removed, {cfg.chosen}, mean over folds (%)", tuple(100 * chosen["channels_removed"]),
                  100 * TARGET_REMOVED, ">=", metric=f"channels_removed ({cfg.chosen}), per fold, seeds averaged"),
           Target(f"AUC drop, dense minus shrunk {cfg.chosen}, mean over folds", tuple(_auc_drop(cfg, folds)),
                  TARGET_DROP, "<=", metric=f"shrunk_test_auc (dense) - shrunk_test_auc ({cfg.chosen}), per fold, "
                                            "seeds averaged")]
    if "none" in by and cfg.chosen != "none":
        more = 100 * (chosen["channels_removed"].to_numpy() - by["none"]["channels_removed"].to_numpy())
        out.append(Target(f"channels removed, {cfg.chosen} minus no regularizer (points)", tuple(more), 0.0, ">",
                          metric=f"channels_removed ({cfg.chosen}) - channels_removed (none), per fold, seeds "
                                 "averaged", note="the mechanism: the regularizer, not the schedule, removes them"))
    return out


def study_headline(cfg: CovidCNNConfig, table: pd.DataFrame) -> dict[str, Any]:
    """A tuning or study run's numbers: per variant, the validation metrics and channels removed of each outer
    fold (inner folds and seeds averaged), with their mean and interval over the outer folds."""
    folds = per_fold(table, "val")
    cols = [*METRICS, "channels_removed", "weight_sparsity"]
    return {"split": "val", "measured_on": "inner validation folds of each outer training part",
            "variants": {v: {c: {**t_interval(g[c], cfg.ci_level, (0.0, 1.0)),
                                 "per_fold": [round(float(x), 4) for x in g[c]]} for c in cols}
                         for v, g in folds.sort_values("fold").groupby("variant", sort=False)}}


def headline(cfg: CovidCNNConfig, table: pd.DataFrame, predictions: pd.DataFrame) -> dict[str, Any]:
    """The chapter's numbers in results.json: per-variant intervals over folds, the AUC drop, channels removed,
    pooled bootstrap metrics and the shrunk nets' sizes."""
    folds = per_fold(table)
    by = {v: g.sort_values("fold") for v, g in folds.groupby("variant")}
    level = cfg.ci_level
    blocks = [c for c in folds.columns if c.startswith("channels_removed[")]

    def variant_block(v: str) -> dict[str, Any]:
        g = by[v]
        unit = (0.0, 1.0)  # every metric here is a fraction: intervals are cut to [0, 1]
        return {**{m: {**t_interval(g[m], level, unit), "per_fold": [round(float(x), 4) for x in g[m]]}
                   for m in METRICS},
                "channels_removed": {**t_interval(g["channels_removed"], level, unit),
                                     "per_fold": [round(float(x), 4) for x in g["channels_removed"]]},
                "channels_removed_per_block": {c[len("channels_removed["):-1]: t_interval(g[c], level, unit)
                                               for c in blocks},
                "weight_sparsity": t_interval(g["weight_sparsity"], level, unit)}

    variants = list(cfg.variants)
    drop = _auc_drop(cfg, folds)
    d, c = (predictions[predictions["variant"] == v].sort_values(["seed", "fold", "file"]) for v in
            ("dense", cfg.chosen))
    paired = bootstrap_interval(d["y"].to_numpy(), np.c_[d["p_shrunk"].to_numpy(), c["p_shrunk"].to_numpy()],
                                lambda y, s: roc_auc(y, s[:, 0]) - roc_auc(y, s[:, 1]), resamples=cfg.bootstrap,
                                generator=np.random.default_rng(1), level=level, clusters=d["group"].to_numpy())
    mechanism = ({v: contrast(folds, cfg.chosen, v, "channels_removed", scale=100, by="fold", level=level)
                  for v in variants if v not in ("dense", cfg.chosen)})
    return {
        "split": "test", "measured_on": "outer test folds",
        "fold_settings": [{n: getattr(cfg.for_fold(k), n) for n in cfg.tuned} for k in range(cfg.folds)],
        "test_evaluations_per_fold": len(variants) * len(cfg.seeds),
        "channels_removed_vs": {"variant": cfg.chosen, "unit": "points", **mechanism},
        "threshold": {"value": cfg.threshold, "how": "fixed before the run (not tuned on any data); training "
                                                    "epochs are class-balanced"},
        "intervals": {"level": level, "over_folds": "mean and Student-t interval over the folds (seeds averaged "
                                                    "within a fold), cut to [0, 1] for fractions",
                      "pooled": "pooled out-of-fold predictions; percentile bootstrap over patient groups, "
                                f"stratified by class, {cfg.bootstrap} resamples"},
        "variants": {v: variant_block(v) for v in variants},
        "pooled": {v: _pooled(cfg, predictions[predictions["variant"] == v], 2 + i) for i, v in enumerate(variants)},
        "auc_drop": {"variant": cfg.chosen, "definition": "dense AUC minus shrunk AUC, paired by fold",
                     **t_interval(drop, level), "per_fold": [round(float(x), 4) for x in drop],
                     "pooled_paired_bootstrap": paired},
        "shrunk": {"variant": cfg.chosen, "max_abs_diff_vs_masked": float(table["max_abs_diff"].max()),
                   "max_abs_diff_vs_masked_float32": float(table["max_abs_diff_float32"].max()),
                   "max_abs_logit": float(table["max_abs_logit"].max()),
                   "params": float(table[table["variant"] == cfg.chosen]["shrunk_params"].mean()),
                   "dense_params": float(table[table["variant"] == "dense"]["params"].mean()),
                   "flops": float(table[table["variant"] == cfg.chosen]["shrunk_flops"].mean()),
                   "dense_flops": float(table[table["variant"] == "dense"]["flops"].mean())},
    }


def _fmt(block: dict[str, float], scale: float = 1.0, digits: int = 3) -> str:
    m, lo, hi = (block.get(k, float("nan")) * scale for k in ("mean", "low", "high"))
    if np.isnan(lo):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def metrics_table(results: dict[str, Any]) -> pd.DataFrame:
    """Per variant of a results.json record: each metric as 'mean [low, high]' over folds, and channels removed
    (%)."""
    rows = {}
    for v, b in results["headline"]["variants"].items():
        rows[v] = {**{LABELS[m]: _fmt(b[m]) for m in METRICS},
                   "channels removed %": _fmt(b["channels_removed"], 100, 1)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("variant")


def block_table(results: dict[str, Any]) -> pd.DataFrame:
    """Per pruned variant of a results.json record: the channels removed in each block (%), 'mean [low, high]'
    over folds."""
    rows = {v: {k: _fmt(c, 100, 1) for k, c in b["channels_removed_per_block"].items()}
            for v, b in results["headline"]["variants"].items() if v != "dense"}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("channels removed (%)")


def pooled_table(results: dict[str, Any]) -> pd.DataFrame:
    """Per variant of a results.json record: each pooled out-of-fold metric as 'value [low, high]' (bootstrap)."""
    rows = {v: {LABELS[m]: f"{b[m]['value']:.3f} [{b[m]['low']:.3f}, {b[m]['high']:.3f}]" for m in METRICS}
            for v, b in results["headline"]["pooled"].items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("variant")


def fold_auc_table(summary: pd.DataFrame) -> pd.DataFrame:
    """AUC of the shrunk net per fold (rows) and variant (columns), seeds averaged, with channels removed."""
    f = per_fold(summary)
    auc = f.pivot(index="fold", columns="variant", values="auc")
    removed = f.pivot(index="fold", columns="variant", values="channels_removed").drop(columns="dense") * 100
    auc.columns = [f"AUC {c}" for c in auc.columns]
    removed.columns = [f"% channels removed {c}" for c in removed.columns]
    return pd.concat([auc, removed], axis=1).round(3)


def surgery_table(result: Any) -> pd.DataFrame:
    """Dense vs masked vs shrunk net (fold 0, first seed): parameters, FLOPs, latency."""
    r, t = result.results, result.summary
    chosen, seed = r["headline"]["auc_drop"]["variant"], r["seeds"][0]
    dense = t[(t["variant"] == "dense") & (t["fold"] == 0) & (t["seed"] == seed)].iloc[0]
    pruned = t[(t["variant"] == chosen) & (t["fold"] == 0) & (t["seed"] == seed)].iloc[0]
    lat = r["latency_ms"]
    rows = {"dense": (dense["params"], dense["nonzero_params"], dense["flops"], lat["dense"]),
            f"{chosen}, masked": (pruned["params"], pruned["nonzero_params"], pruned["flops"], lat["dense"]),
            f"{chosen}, shrunk": (pruned["shrunk_params"], pruned["shrunk_nonzero_params"], pruned["shrunk_flops"],
                                  lat["shrunk"])}
    return pd.DataFrame([{"net": name, "parameters": int(p), "non-zero parameters": int(nz),
                          "FLOPs per image": int(f), **{f"latency ms, {k.replace('_', ' ')}": v
                                                        for k, v in la.items()}}
                         for name, (p, nz, f, la) in rows.items()]).set_index("net")


def images_needed(results: dict[str, Any], half_width: float = 0.01) -> dict[str, float]:
    """How many images of this mix the AUC-drop target would need: the pooled paired bootstrap interval of the drop
    has half-width ``h`` on the ``n`` images here, and a half-width shrinks as 1/sqrt(images), so resolving the
    0.02 bound to +- ``half_width`` needs about n * (h / half_width)**2 images (a lower bound: it assumes a
    classifier as good as this one, and that more images of the same sources behave like these)."""
    pooled = results["headline"]["auc_drop"]["pooled_paired_bootstrap"]
    h, n = (pooled["high"] - pooled["low"]) / 2, results["data_source"]["images"]
    return {"half_width": h, "images": n, "target_half_width": half_width, "needed": n * (h / half_width) ** 2}


def testability(results: dict[str, Any]) -> str:
    """Whether a final run's dense classifier can carry the AUC-drop target, as Markdown from its numbers: the dense
    AUC interval against 0.5 and the precondition's bound, and, when the interval includes 0.5, the evidence and
    what data would be needed (:func:`images_needed`)."""
    dense = next(t for t in results["targets"] if t["name"].startswith("dense AUC"))
    auc = f"{dense['mean']:.3f} [{dense['low']:.3f}, {dense['high']:.3f}]"
    if dense["verdict"] == MET:
        return (f"Yes: the dense AUC over the outer folds, {auc}, is clearly above chance (the whole interval at or "
                f"above {dense['bound']:g}), so the AUC-drop target measures what pruning costs.")
    if dense["low"] > 0.5:
        return (f"Only weakly: the dense AUC, {auc}, excludes 0.5 but not by the precondition's margin (lower end "
                f"below {dense['bound']:g}); the AUC-drop target is reported but carries little weight.")
    need = images_needed(results)
    trials = json.loads(TRIALS.read_text())["trials"]
    lo, hi = (f(t["auc_mean_over_folds"] for t in trials if t["variant"] == "dense") for f in (min, max))
    return (f"**No: the claim cannot be tested on this data.** The dense AUC over the outer test folds, {auc}, "
            "does not exclude 0.5, so a pruned net that keeps it has kept nothing measurable, and the AUC-drop "
            "target is met or missed by chance. The evidence: this interval; the tuning above, where no candidate "
            "setting was clearly better than the others on inner folds; and the earlier trial runs "
            f"(covid_cnn_trials.json), whose dense AUC (mean over 5 folds, one seed) stayed between {lo:.3f} and "
            f"{hi:.3f} over optimizers, widths, input sizes and augmentations. What data would be needed: a classifier that learns, which here means "
            "more images, and above all more negatives (50 here) from the same sources as the positives, so that "
            "the network cannot separate the sources instead of the disease (see the data card); and, for the "
            f"0.02 bound itself, the pooled interval of the paired AUC drop has a half-width of "
            f"{need['half_width']:.3f} on these {need['images']} images, and shrinks as one over the square root "
            f"of their number, so a half-width of {need['target_half_width']:g} would need about "
            f"{need['needed']:,.0f} images of this mix (a lower bound: it assumes a classifier that learns).")


def _name(variant: str) -> str:
    return "no regularizer" if variant == "none" else variant.upper()


def findings(results: dict[str, Any]) -> str:
    """The main observations of a final run's results.json as Markdown, computed from its numbers (true at every
    profile): the dense AUC and whether it is clearly above chance, channels removed per variant, the targets, and
    whether the chosen regularizer removes more channels than none on the same schedule."""
    h = results["headline"]
    v, drop = h["variants"], h["auc_drop"]
    chosen = drop["variant"]
    pruned = [k for k in v if k != "dense"]
    lines = [f"Mean over {v['dense']['auc']['n']} outer folds, with {int(100 * h['intervals']['level'])}% "
             "intervals: the dense CNN reaches an AUC of " + _fmt(v["dense"]["auc"]) + ". " +
             ". ".join(f"With {_name(k)}, {_fmt(v[k]['channels_removed'], 100, 1)}% of the channels died and the "
                       f"shrunk net's AUC is {_fmt(v[k]['auc'])}" for k in pruned) + "."]
    per_block = v[chosen]["channels_removed_per_block"]
    lines.append(f"Channels removed per block with {_name(chosen)}: " + ", ".join(
        f"{k} {100 * b['mean']:.0f}%" for k, b in per_block.items()) + ".")
    shown = {t["name"]: t["verdict"] if t["verdict"] == MET else f"**{t['verdict']}**" for t in results["targets"]}
    met = "; ".join(f"{t['name']} = {t['mean']:.3f} ({shown[t['name']]}: {t['direction']} {t['bound']:g})"
                    for t in results["targets"])
    lines.append(f"Targets: {met}.")
    pooled = drop["pooled_paired_bootstrap"]
    lines.append(f"The paired AUC drop of {_name(chosen)} (dense minus shrunk, fold by fold) is "
                 f"{_fmt(drop)}; on the pooled out-of-fold predictions it is "
                 f"{pooled['value']:.3f} [{pooled['low']:.3f}, {pooled['high']:.3f}] (bootstrap).")
    dense = next(t for t in results["targets"] if t["name"].startswith("dense AUC"))
    if dense["low"] <= 0.5:
        lines.append("**The interval of the dense AUC includes 0.5**: the dense network cannot be told apart from "
                     "chance on the outer test folds, so a small AUC drop says nothing about what pruning costs.")
    elif dense["verdict"] != MET:
        lines.append(f"The interval of the dense AUC excludes 0.5, but not by the margin the precondition asks "
                     f"(lower end {dense['low']:.3f} < {dense['bound']:g}).")
    for other, c in h["channels_removed_vs"].items():
        if other in ("variant", "unit"):
            continue
        verdict = (f"{_name(chosen)} removes more" if c["resolved"] and c["low"] > 0 else
                   f"{_name(chosen)} removes fewer" if c["resolved"] else "not resolved by these folds")
        lines.append(f"Channels removed, {_name(chosen)} minus {_name(other)} on the same schedule: "
                     f"{c['mean']:+.1f} points [{c['low']:+.1f}, {c['high']:+.1f}] ({verdict}).")
    none = h["channels_removed_vs"].get("none")
    if none is not None and not (none["resolved"] and none["low"] > 0):
        lines.append("**At this schedule the schedule, not the regularizer, removes the channels**: without a "
                     f"regularizer as many channels die as with {_name(chosen)}, or more.")
    return " ".join(lines)
