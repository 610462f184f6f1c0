"""Figures of the method chapters (relevance-weighted decay, guided regularization). DataFrame in, Figure out."""
from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as ticker
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure


GUIDED = "guided (our reconstruction)"
VARIANT_STYLE = {"relevance": ("#1f77b4", "-", "relevance-weighted decay"),
                 "crop_only": ("#ff7f0e", "--", "crops only (gamma0 = 0)")}


def accuracy_vs_sparsity(checkpoints: pd.DataFrame, *, dense: float | None, authors: float, bound: float,
                         metric: str = "test_accuracy") -> Figure:
    """``metric`` (test, or validation for a tuning run) against weight sparsity of the nets checkpointed at each
    crop, per variant (relevance, crop-only): thin lines per seed, the mean over seeds (by number of crops) thick,
    and reference lines (our dense net, the authors' dense net, the bound B)."""
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    df = checkpoints.assign(sparsity_pct=100 * checkpoints["sparsity"], acc=100 * checkpoints[metric])
    for variant, rows in df.groupby("variant", sort=False):
        color, ls, label = VARIANT_STYLE[str(variant)]
        for _, g in rows.groupby("seed"):
            ax.plot(g["sparsity_pct"], g["acc"], color=color, ls=ls, marker="o", ms=2, lw=0.6, alpha=0.4)
        agg = rows.groupby("crops_before").agg(s=("sparsity_pct", "mean"), m=("acc", "mean"))
        ax.plot(agg["s"], agg["m"], color=color, ls=ls, lw=2.2, label=f"{label}, mean over seeds")
    where = "test" if metric.startswith("test") else "validation"
    if dense is not None:
        ax.axhline(100 * dense, color="#2ca02c", ls="--", lw=1, label=f"our dense net ({100 * dense:.2f}%)")
    ax.axhline(100 * authors, color="#9467bd", ls=":", lw=1.2,
               label=f"authors' dense net ({100 * authors:.2f}%, test, 120 epochs)")
    ax.axhline(100 * bound, color="0.5", ls="-.", lw=1, label=f"bound B ({100 * bound:.1f}%, on validation)")
    ax.set(xlabel="weight sparsity (%)", ylabel=f"{where} accuracy (%)",
           title="nets checkpointed just before each crop (thin: seeds)")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def gate_timeline(evaluations: pd.DataFrame, bound: float) -> Figure:
    """Validation accuracy at every gate evaluation (crops marked) and the weight sparsity, against the step; one
    colour per seed, one line style per variant (solid: relevance, dashed: crop-only)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.8, 5.0), sharex=True)
    colors = dict(zip(sorted(evaluations["seed"].unique()), plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for (variant, seed), g in evaluations.groupby(["variant", "seed"], sort=False):
        _, ls, label = VARIANT_STYLE[str(variant)]
        top.plot(g["step"], 100 * g["val_accuracy"], lw=0.9, ls=ls, color=colors[seed],
                 label=f"{label}, seed {seed}")
        c = g[g["cropped"]]
        top.scatter(c["step"], 100 * c["val_accuracy"], s=10, color=colors[seed])
        bottom.step(g["step"], 100 * g["sparsity"], where="post", ls=ls, color=colors[seed], lw=1)
    top.axhline(100 * bound, color="0.5", ls="-.", lw=1, label="bound B")
    top.set(ylabel="validation accuracy (%)", ylim=(max(0, 100 * bound - 4), 100))
    top.legend(fontsize=6, ncol=2)
    bottom.set(xlabel="optimizer step", ylabel="weight sparsity (%)")
    fig.tight_layout()
    return fig


def unit_norms_by_index(norms: pd.DataFrame) -> Figure:
    """Fan-in norm of each hidden unit against its index at the end of training, guided (our reconstruction) vs
    unguided; rows are hidden layers, columns the per-unit penalty phi (mean over seeds)."""
    df = norms[norms["phi"] != "none"].copy()
    df["coefficients"] = df["guided"].map({True: GUIDED, False: "unguided"})
    g = sns.relplot(df, x="node", y="norm", hue="coefficients", hue_order=[GUIDED, "unguided"],
                    palette=["#1f77b4", "#d62728"], row="layer", col="phi", kind="line", errorbar=None, lw=0.8,
                    height=2.4, aspect=1.4, facet_kws={"sharey": False})
    g.set_axis_labels("unit index j", "fan-in norm ||W_j||")
    g.set_titles("{row_name} | {col_name}")
    return g.figure


def accuracy_vs_units_kept(kept: pd.DataFrame, metric: str = "test_accuracy") -> Figure:
    """``metric`` (test, or validation for a tuning run) when only the largest-norm fraction of each hidden layer's
    units is kept (surgery, no fine-tuning), guided (our reconstruction) vs unguided per phi; the unpenalized net
    dashed. Mean over seeds, bars ±1 std."""
    df = kept.assign(acc=100 * kept[metric], kept_pct=100 * kept["keep"])
    where = "test" if metric.startswith("test") else "validation"
    phis = [p for p in df["phi"].unique() if p != "none"]
    fig, axes = plt.subplots(1, len(phis), figsize=(4.0 * len(phis), 3.4), sharey=True, squeeze=False)
    none = df[df["phi"] == "none"]
    for ax, phi in zip(axes[0], phis):
        sub = df[df["phi"] == phi].copy()
        sub["coefficients"] = sub["guided"].map({True: GUIDED, False: "unguided"})
        sns.lineplot(sub, x="kept_pct", y="acc", hue="coefficients", hue_order=[GUIDED, "unguided"],
                     palette=["#1f77b4", "#d62728"], errorbar="sd", err_style="bars", marker="o", ms=4, ax=ax)
        sns.lineplot(none, x="kept_pct", y="acc", color="0.4", ls="--", errorbar=None, ax=ax, label="no penalty")
        ax.set(title=phi, xscale="log", xlabel="hidden units kept (%, log scale)", ylabel=f"{where} accuracy (%)")
        ax.set_xticks(sorted(df["kept_pct"].unique()))
        ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.minorticks_off()
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
