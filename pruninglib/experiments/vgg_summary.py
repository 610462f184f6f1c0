"""Summaries of the VGG-16 / CIFAR-10 chapter: the headline and targets of results.json, the accuracy curve from
the dynamics, and the tables and sentences the notebook shows. Pure functions of the run's tables and record.

A final run measures on the test split (columns ``test_accuracy``, ``shrunk_test_accuracy``), a tuning run on the
validation split (``val_accuracy``, ...): :func:`split_name` says which. Values over seeds are shown as the mean
with its 95% Student-t interval and n (one seed: no interval).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import pandas as pd

from pruninglib.config import VGGCifarConfig
from pruninglib.experiments.targets import Target, paired, per_seed
from pruninglib.metrics.binary import t_interval

NAMES = {"dense": "dense", "l2": "stochastic + L2 (our reconstruction)",
         "l1": "stochastic + L1 (our reconstruction)", "none": "stochastic, no regularizer (our reconstruction)",
         "l1_norm": "L1-norm filter pruning (Li et al.)", "slimming": "network slimming (Liu et al.)"}
SHORT = {"l2": "L2", "l1": "L1", "none": "no regularizer"}
NUMBERS = ("filters_removed", "weight_sparsity", "params", "nonzero_params", "flops", "shrunk_params",
           "shrunk_flops", "max_abs_diff", "max_abs_diff_float32")


def split_name(cfg: VGGCifarConfig) -> str:
    """'test' for a final run, 'val' for a tuning run (``evaluate_test`` false)."""
    return "test" if cfg.evaluate_test else "val"


def interval(values: Sequence[float], scale: float = 100.0, digits: int = 2) -> str:
    """'mean [low, high]' of ``values`` times ``scale`` (95% t-interval), or 'mean (one seed)'."""
    ci = t_interval(list(values))
    if math.isnan(ci["low"]):
        return f"{scale * ci['mean']:.{digits}f} (one seed)"
    return f"{scale * ci['mean']:.{digits}f} [{scale * ci['low']:.{digits}f}, {scale * ci['high']:.{digits}f}]"


def curve_from_dynamics(dynamics: pd.DataFrame, variants: tuple[str, ...]) -> pd.DataFrame:
    """Per stochastic variant, seed and epoch >= 1: the fraction of filters dead (filter-weighted over layers)
    and the validation accuracy. Columns: method, seed, kind, epoch, fraction_removed, accuracy."""
    d = dynamics[dynamics["variant"].isin(variants)] if len(dynamics) else dynamics
    if d.empty:
        return pd.DataFrame(columns=["method", "seed", "kind", "epoch", "fraction_removed", "accuracy"])
    keys = ["variant", "seed", "epoch"]
    sizes = d[d["metric"] == "fan_in_norm"].groupby([*keys, "layer"]).size().rename("n")
    alive = d[d["metric"] == "alive_fraction"].set_index([*keys, "layer"])["value"]
    a = pd.concat([alive, sizes], axis=1).reset_index()
    a["dead"] = (1 - a["value"]) * a["n"]
    g = a.groupby(keys)[["dead", "n"]].sum()
    removed = (g["dead"] / g["n"]).rename("fraction_removed")
    acc = d[(d["metric"] == "accuracy") & (d["split"] == "val")].set_index(keys)["value"]
    out = pd.concat([removed, acc.rename("accuracy")], axis=1).reset_index().rename(columns={"variant": "method"})
    out["kind"] = "during training, by epoch (val)"
    return out[out["epoch"] > 0]


def headline(cfg: VGGCifarConfig, table: pd.DataFrame, kept: dict[tuple[Any, ...], list[int]]) -> dict[str, Any]:
    """The measured split; per method the mean over its seeds of every number (with n, the seeds, and the filters
    kept per layer of its first seed); the dense net (when it ran) and the chosen variant's shrunk net of the
    first seed, the headline model."""
    name = split_name(cfg)
    acc, shrunk_acc = f"{name}_accuracy", f"shrunk_{name}_accuracy"
    methods = {}
    for m, g in table.groupby("variant", sort=False):
        methods[m] = {"n": len(g), "seeds": [int(s) for s in g["seed"]],
                      **{k: float(g[k].mean()) for k in (acc, shrunk_acc, *NUMBERS)},
                      "filters_kept": kept[(m, int(g["seed"].iloc[0]))]}
    first = table[table["seed"] == cfg.seeds[0]].set_index("variant")
    chosen, pruned = first.loc[cfg.chosen], table[table["variant"] != "dense"]
    out: dict[str, Any] = {"split": name, "methods": methods, "shrunk": {
        "variant": cfg.chosen, "seed": cfg.seeds[0], "metric": shrunk_acc, "value": float(chosen[shrunk_acc]),
        "params": int(chosen["shrunk_params"]), "flops": int(chosen["shrunk_flops"]),
        "flops_ratio": float(chosen["flops"] / chosen["shrunk_flops"]),
        "params_ratio": float(chosen["params"] / chosen["shrunk_params"]),
        "max_abs_diff_vs_masked": float(pruned["max_abs_diff"].max()),
        "max_abs_diff_vs_masked_float32": float(pruned["max_abs_diff_float32"].max()),
        "max_abs_diff_note": f"largest |masked - shrunk| over all {name} logits and pruned runs, nets evaluated in "
                             "float64 (and, for the float32 value, in float32)"}}
    if "dense" in first.index:
        dense = table[table["variant"] == "dense"]
        out["dense"] = {"metric": acc, "value": float(dense[acc].mean()), "n": len(dense),
                        "params": int(dense["params"].iloc[0]), "flops": int(dense["flops"].iloc[0])}
    return out


def targets(cfg: VGGCifarConfig, table: pd.DataFrame) -> list[Target]:
    """The paper's VGG claim on the chosen variant: 60% of the filters removed, a dense net of at least 92.5%,
    the shrunk net within 1 point of the dense one of the same seed (one value per seed)."""
    gap = paired(table, cfg.chosen, "shrunk_test_accuracy", "dense", "test_accuracy")
    return [Target("conv filters removed (%)", tuple(100 * per_seed(table, cfg.chosen, "filters_removed")), 60.0,
                   ">=", metric=f"filters_removed ({cfg.chosen})"),
            Target("dense test accuracy (%)", tuple(100 * per_seed(table, "dense", "test_accuracy")), 92.5, ">=",
                   metric="test_accuracy (dense)"),
            Target("shrunk minus dense test accuracy (points)", tuple(100 * g for g in gap), -1.0, ">=",
                   metric=f"shrunk_test_accuracy ({cfg.chosen}) - test_accuracy (dense), same seed")]


def methods_table(result: Any) -> pd.DataFrame:
    """One row per method: n seeds, filters removed, test accuracy of the shrunk net and its change against the
    dense net of the same seed (mean [95% interval]), parameters and FLOPs ratio of the first seed's shrunk net,
    the largest surgery difference over its seeds."""
    t = result.summary
    dense = t[t["variant"] == "dense"].set_index("seed")
    rows = {}
    for m, g in t.groupby("variant", sort=False):
        g = g.set_index("seed")
        gap = g["shrunk_test_accuracy"] - dense["test_accuracy"].reindex(g.index)
        first = g.iloc[0]
        rows[NAMES.get(m, m)] = {
            "n": len(g), "filters removed %": interval(g["filters_removed"], digits=1),
            "test accuracy %": interval(g["shrunk_test_accuracy"]),
            "vs dense, same seed (points)": interval(gap),
            "parameters (first seed)": int(first["shrunk_params"]),
            "FLOPs ratio (dense / this)": round(float(first["flops"] / first["shrunk_flops"]), 2),
            "max |masked - shrunk| (float64)": f"{g['max_abs_diff'].max():.1e}"}
    return pd.DataFrame(rows).T


def speed_table(result: Any) -> pd.DataFrame:
    """Dense vs shrunk (chosen variant, first seed): CPU latency per batch size, GPU throughput when measured,
    FLOPs."""
    r = result.results
    gpu, shrunk = r["headline"]["gpu_speed"], r["headline"]["shrunk"]
    chosen = shrunk["variant"]
    rows = {}
    for name, flops, key in (("dense", r["headline"]["dense"]["flops"], "dense"),
                             (f"shrunk {chosen}", shrunk["flops"], "shrunk")):
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
    t = result.summary
    by = {m: g.set_index("seed") for m, g in t.groupby("variant", sort=False)}
    h = result.results["headline"]
    chosen, dense = h["shrunk"]["variant"], by["dense"]["test_accuracy"]
    stoch = [v for v in ("l2", "l1", "none") if v in by]
    lines = ["Fraction of conv filters that died under stochastic pruning, our reconstruction (same weight-sparsity "
             "schedule; mean [95% interval] over seeds, in %): " +
             ", ".join(f"**{interval(by[v]['filters_removed'], digits=1)}** with {SHORT[v]}" for v in stoch) + "."]
    gap = by[chosen]["shrunk_test_accuracy"] - dense.reindex(by[chosen].index)
    lines.append(f"The shrunk {NAMES[chosen]} nets reach {interval(by[chosen]['shrunk_test_accuracy'])}% test "
                 f"accuracy against {interval(dense)}% for the dense nets ({interval(gap)} points against the "
                 f"dense net of the same seed); the first seed's has {h['shrunk']['flops_ratio']:.2f}x fewer FLOPs.")
    base = [b for b in ("l1_norm", "slimming") if b in by]
    if base:
        lines.append("At the same filter budget, after fine-tuning: " + ", ".join(
            f"{NAMES[b]} {interval(by[b]['shrunk_test_accuracy'])}% "
            f"({interval(by[b]['shrunk_test_accuracy'] - dense.reindex(by[b].index))} points)" for b in base) + ".")
    return " ".join(lines)


def curve_for_plot(result: Any) -> pd.DataFrame:
    """The curve table with the epoch-by-epoch lines of the first seed only (a line per seed would zigzag)."""
    c = result.tables["curve"]
    first = result.results["seeds"][0]
    return c[(c["kind"] != "during training, by epoch (val)") | (c["seed"] == first)]


def job_report(result: Any) -> str:
    """Markdown: the GPU job's speed (the probe's loops against the plain PyTorch loop, each training's images/s,
    the whole job's images/s, MFU and phases) when the run came from it; else a sentence saying it did not."""
    job = result.results.get("job")
    if job is None:
        return (f"This page was made by `pruninglib run` at the `{result.results['profile']}` profile on "
                f"{result.results['hardware']['summary']}, not by the GPU job: no GPU speed to report.")
    p = job["probe"]

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{100 * v:.1f}%"

    lines = [f"Speed probe alone on {p['device']}: batch {p['batch_size']}, {p['steps']} steps per loop, median of "
             f"{p['reps']}; {p['flops_per_image'] / 1e9:.2f} GFLOP per image and training step; bf16 peak "
             f"{p['peak_tflops'] or 'unknown'} TFLOP/s.", "",
             "| loop | ms per step | images/s | MFU | x plain loop |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {v['ms_per_step']:.2f} | {v['images_per_s']:,.0f} | {pct(v['mfu'])} | "
              f"{v['x_plain']:.2f} |" for name, v in p["loops"].items()]
    lines += ["", f"The tracker takes {p['tracker_s']:.2f} s per epoch ({100 * p['tracker_share_of_epoch']:.1f}% of "
              f"a plain epoch).", "", "| training | seed | epochs | s | images/s | share of the peak |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['seed']} | {r['epochs_run']} | {r['train_s']:.0f} | "
              f"{r['train_images_per_s']:,.0f} | {pct(r['mfu_share'])} |" for r in job["runs"]]
    a, ph = job["aggregate"], job["phases"]
    lines += ["", f"All trainings, {job['workers']} processes side by side: {a['train_images']:,.0f} images in "
              f"{ph['train_s']:.0f} s, {a['images_per_s']:,.0f} images/s, MFU {pct(a['mfu'])}. Phases (s): " +
              ", ".join(f"{k.removesuffix('_s')} {v:.0f}" for k, v in ph.items()) + "."]
    return "\n".join(lines)


def records_note(result: Any) -> str:
    """Markdown: where a page rendered from records got them, and whether this checkout's library made them."""
    r = result.results.get("rendered_from")
    if r is None:
        return "Trained and measured in this notebook's run."
    same = ("the same library code as this checkout" if r["same_library_as_this_checkout"] else
            "**library code that differs from this checkout's**")
    return f"Rendered from the records in `{r['records']}`, made by {same} (library SHA-256 {str(r['library_sha256'])[:12]})."


def test_reads(result: Any) -> str:
    """Markdown: how many final evaluations read the test split in this run."""
    r = result.results
    if not r["parameters"]["evaluate_test"]:
        return "This run read no test image (evaluate_test false)."
    runs = result.summary
    curves = [m for m in ("l1_norm", "slimming") if m in set(runs["variant"])]
    k = len(r["parameters"]["sweep_fractions"])
    extra = (f", plus the criterion curves of {' and '.join(NAMES[m] for m in curves)} at {k} fraction"
             f"{'s' if k > 1 else ''} of filters removed each" if curves else "")
    return (f"**Test split:** {len(runs)} final runs, each evaluated once (masked and shrunk net) on the "
            f"{r['data_source']['split']['test_size']:,} test images{extra}; no run of this page chose a setting.")
