"""Figures of the mechanism study: mean and 95% interval over seeds, per regularizer, against lambda or p(w)'s
sharpness. Each takes the cells table of :mod:`pruninglib.experiments.mlp_mechanism` (one row per regularizer and
x value, with ``<col>``, ``<col>_low`` and ``<col>_high``)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pruninglib.plots import PALETTE

LABELS = {"l2": "stochastic + L2 (our reconstruction)", "l1": "stochastic + L1 (our reconstruction)",
          "none": "stochastic, no regularizer (our reconstruction)"}
PANELS = (("nodes_removed", "hidden nodes removed (%)"), ("accuracy_drop", "shrunk - dense val. accuracy (points)"),
          ("weight_sparsity", "weight sparsity (%)"))


def _curves(cells: pd.DataFrame, x: str, xlabel: str, tolerance: float | None) -> Figure:
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.3 * len(PANELS), 3.5))
    for ax, (col, ylabel) in zip(axes, PANELS):
        for reg, g in cells.groupby("regularizer", sort=False):
            g = g.sort_values(x)
            low, high = g[f"{col}_low"].to_numpy(), g[f"{col}_high"].to_numpy()
            mean = g[col].to_numpy()
            err = np.vstack([np.nan_to_num(mean - low), np.nan_to_num(high - mean)])  # no bar for one seed
            ax.errorbar(g[x], mean, yerr=err, marker="o", ms=4, capsize=3, color=PALETTE.get(reg),
                        label=LABELS.get(reg, reg))
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.ticklabel_format(axis="y", useOffset=False)  # weight sparsity: 97.406, not 0.006 + 97.4
        if col == "accuracy_drop" and tolerance is not None:
            ax.axhline(-tolerance, color="0.5", ls=":", lw=1)
    axes[0].axhline(50, color="0.5", ls=":", lw=1)  # the paper's 50% of the nodes
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def lambda_curves(cells: pd.DataFrame, tolerance: float | None = None) -> Figure:
    """Nodes removed, accuracy drop and weight sparsity against the regularizer's lambda (symmetric log scale,
    so lambda 0, no regularizer, is shown), one curve per regularizer; ``tolerance`` marks the selection rule."""
    fig = _curves(cells, "lambda", "lambda (0: no regularizer)", tolerance)
    positive = cells.loc[cells["lambda"] > 0, "lambda"]
    smallest = float(positive.min()) if len(positive) else 1e-5
    for ax in fig.axes:  # linear below the smallest lambda, where lambda 0 sits; no negative lambdas on the axis
        ax.set_xscale("symlog", linthresh=smallest)
        ax.set_xlim(-0.5 * smallest, 1.5 * float(cells["lambda"].max() or smallest))
    return fig


def sharpness_curves(cells: pd.DataFrame) -> Figure:
    """The same against p(w)'s prune_factor (log scale): small is close to magnitude pruning, large to uniform
    random pruning."""
    fig = _curves(cells, "prune_factor", "prune_factor (p(w) flatter to the right)", None)
    for ax in fig.axes:
        ax.set_xscale("log")
    return fig
