"""Channels (filters) removed against weight sparsity, one curve per regularizer: what a schedule sweep shows. Takes
a cells table (one row per regularizer and schedule strength, with ``<col>``, ``<col>_low`` and ``<col>_high``:
the mean over seeds and its 95% interval, in percent), e.g. :func:`pruninglib.experiments.vgg_mechanism.cells`."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pruninglib.plots import PALETTE

LABELS = {"l2": "stochastic + L2 (our reconstruction)", "l1": "stochastic + L1 (our reconstruction)",
          "none": "stochastic, no regularizer (our reconstruction)"}


def _err(g: pd.DataFrame, col: str) -> np.ndarray:
    mean = g[col].to_numpy()
    return np.vstack([np.nan_to_num(mean - g[f"{col}_low"].to_numpy()),  # no bar for a single seed
                      np.nan_to_num(g[f"{col}_high"].to_numpy() - mean)])


def removed_vs_sparsity(cells: pd.DataFrame, removed: str = "filters_removed", accuracy: str = "shrunk_val_accuracy",
                        unit: str = "filters") -> Figure:
    """Left: ``removed`` (%) against weight sparsity (%); right: ``accuracy`` (%) against weight sparsity; one curve
    per regularizer through its schedule strengths (labelled), bars the 95% intervals over seeds on both axes."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0))
    for ax, (col, label) in zip(axes, ((removed, f"{unit} removed (%)"), (accuracy, "shrunk net, val. accuracy (%)"))):
        for reg, g in cells.groupby("regularizer", sort=False):
            g = g.sort_values("weight_sparsity")
            ax.errorbar(g["weight_sparsity"], g[col], xerr=_err(g, "weight_sparsity"), yerr=_err(g, col), marker="o",
                        ms=4, capsize=3, color=PALETTE.get(reg), label=LABELS.get(reg, reg))
            if reg == "none":
                for x, y, s in zip(g["weight_sparsity"], g[col], g["sparsity_scale"]):
                    ax.annotate(f"x{s:g}", (x, y), textcoords="offset points", xytext=(4, -11), fontsize=7,
                                color="0.35")
        ax.set(xlabel="weight sparsity of the prunable weights (%)", ylabel=label)
    axes[0].set_title("labels: the schedule's strength (sparsity_scale)", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
