"""Figures of the method chapters (relevance-weighted decay, guided regularization). DataFrame in, Figure out."""
from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as ticker
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure


def accuracy_vs_sparsity(checkpoints: pd.DataFrame, *, dense: float | None, authors: float,
                         bound: float) -> Figure:
    """Test accuracy against weight sparsity of the nets checkpointed at each crop: one thin line per seed, the
    mean over seeds with a ±1 std band (by number of crops), and reference lines (our dense net, the authors'
    dense net, the bound B)."""
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    df = checkpoints.assign(sparsity_pct=100 * checkpoints["sparsity"], acc=100 * checkpoints["test_accuracy"])
    for seed, g in df.groupby("seed"):
        ax.plot(g["sparsity_pct"], g["acc"], marker="o", ms=3, lw=0.8, alpha=0.6, label=f"seed {seed}")
    agg = df.groupby("crops_before").agg(s=("sparsity_pct", "mean"), m=("acc", "mean"), sd=("acc", "std"),
                                         n=("acc", "size")).fillna(0.0)
    ax.plot(agg["s"], agg["m"], color="k", lw=2, label="mean over seeds")
    ax.fill_between(agg["s"], agg["m"] - agg["sd"], agg["m"] + agg["sd"], color="k", alpha=0.15, label="±1 std")
    if dense is not None:
        ax.axhline(100 * dense, color="#2ca02c", ls="--", lw=1, label=f"our dense net ({100 * dense:.2f}%)")
    ax.axhline(100 * authors, color="#9467bd", ls=":", lw=1.2, label=f"authors' dense net ({100 * authors:.2f}%)")
    ax.axhline(100 * bound, color="0.5", ls="-.", lw=1, label=f"bound B ({100 * bound:.1f}%, on validation)")
    ax.set(xlabel="weight sparsity (%)", ylabel="test accuracy (%)",
           title="nets checkpointed just before each crop")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def gate_timeline(evaluations: pd.DataFrame, bound: float) -> Figure:
    """Validation accuracy at every gate evaluation (crops marked) and the weight sparsity, against the step."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.8, 5.0), sharex=True)
    for seed, g in evaluations.groupby("seed"):
        line, = top.plot(g["step"], 100 * g["val_accuracy"], lw=0.9, label=f"seed {seed}")
        c = g[g["cropped"]]
        top.scatter(c["step"], 100 * c["val_accuracy"], s=10, color=line.get_color())
        bottom.step(g["step"], 100 * g["sparsity"], where="post", color=line.get_color(), lw=1)
    top.axhline(100 * bound, color="0.5", ls="-.", lw=1, label="bound B")
    top.set(ylabel="validation accuracy (%)", ylim=(max(0, 100 * bound - 4), 100))
    top.legend(fontsize=7)
    bottom.set(xlabel="optimizer step", ylabel="weight sparsity (%)")
    fig.tight_layout()
    return fig


def unit_norms_by_index(norms: pd.DataFrame) -> Figure:
    """Fan-in norm of each hidden unit against its index at the end of training, guided vs unguided; rows are
    hidden layers, columns the per-unit penalty phi (mean over seeds)."""
    df = norms[norms["phi"] != "none"].copy()
    df["coefficients"] = df["guided"].map({True: "guided", False: "unguided"})
    g = sns.relplot(df, x="node", y="norm", hue="coefficients", hue_order=["guided", "unguided"],
                    palette=["#1f77b4", "#d62728"], row="layer", col="phi", kind="line", errorbar=None, lw=0.8,
                    height=2.4, aspect=1.4, facet_kws={"sharey": False})
    g.set_axis_labels("unit index j", "fan-in norm ||W_j||")
    g.set_titles("{row_name} | {col_name}")
    return g.figure


def accuracy_vs_units_kept(kept: pd.DataFrame) -> Figure:
    """Test accuracy when only the largest-norm fraction of each hidden layer's units is kept (surgery, no
    fine-tuning), guided vs unguided per phi; the unpenalized net dashed. Mean over seeds, bars ±1 std."""
    df = kept.assign(acc=100 * kept["test_accuracy"], kept_pct=100 * kept["keep"])
    phis = [p for p in df["phi"].unique() if p != "none"]
    fig, axes = plt.subplots(1, len(phis), figsize=(4.0 * len(phis), 3.4), sharey=True, squeeze=False)
    none = df[df["phi"] == "none"]
    for ax, phi in zip(axes[0], phis):
        sub = df[df["phi"] == phi].copy()
        sub["coefficients"] = sub["guided"].map({True: "guided", False: "unguided"})
        sns.lineplot(sub, x="kept_pct", y="acc", hue="coefficients", hue_order=["guided", "unguided"],
                     palette=["#1f77b4", "#d62728"], errorbar="sd", err_style="bars", marker="o", ms=4, ax=ax)
        sns.lineplot(none, x="kept_pct", y="acc", color="0.4", ls="--", errorbar=None, ax=ax, label="no penalty")
        ax.set(title=phi, xscale="log", xlabel="hidden units kept (%, log scale)", ylabel="test accuracy (%)")
        ax.set_xticks(sorted(df["kept_pct"].unique()))
        ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.minorticks_off()
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
