"""Figures of the COVID-19 chapter's schedule study: DataFrame in, Figure out."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from pruninglib.plots import PALETTE, _order

NAMES = {"l2": "L2", "l1": "L1", "none": "no regularizer", "dense": "dense (no pruning)"}


def removed_vs_sparsity(cells: pd.DataFrame, random: pd.DataFrame | None = None) -> Figure:
    """Left: channels removed against weight sparsity, one curve per regularizer, 95% intervals as error bars;
    ``random`` (columns weight_sparsity, channels_removed) is the schedule alone with zeros placed at random
    (dashed). Right: the AUC on the inner validation folds against weight sparsity, dense as a band.
    ``cells`` has the columns of :func:`pruninglib.experiments.covid_study.schedule_cells` (fractions)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.2))
    pruned = cells[cells["variant"] != "dense"]
    for v in _order(pruned):
        g = pruned[pruned["variant"] == v].sort_values("weight_sparsity")
        x = 100 * g["weight_sparsity"]
        for ax, m, scale in ((left, "channels_removed", 100), (right, "shrunk_val_auc", 1)):
            y = scale * g[m]
            err = [y - scale * g[f"{m}_low"], scale * g[f"{m}_high"] - y]
            ax.errorbar(x, y, yerr=err, color=PALETTE.get(v), marker="o", ms=4, capsize=3, lw=1.4,
                        label=NAMES.get(v, v))
    if random is not None:
        r = random.sort_values("weight_sparsity")
        left.plot(100 * r["weight_sparsity"], 100 * r["channels_removed"], color="0.4", ls="--", lw=1,
                  label="zeros at random, same per-layer sparsity")
    dense = cells[cells["variant"] == "dense"]
    if len(dense):
        d = dense.iloc[0]
        right.axhspan(d["shrunk_val_auc_low"], d["shrunk_val_auc_high"], color=PALETTE["dense"], alpha=0.15)
        right.axhline(d["shrunk_val_auc"], color=PALETTE["dense"], lw=1, label=NAMES["dense"])
    right.axhline(0.5, color="0.6", lw=0.8, ls=":")
    left.axhline(50, color="0.6", lw=0.8, ls=":")
    left.set(xlabel="weight sparsity, mean over prunable layers (%)", ylabel="channels removed (%)",
             title="stochastic pruning (our reconstruction):\nchannels removed against weight sparsity")
    right.set(xlabel="weight sparsity, mean over prunable layers (%)", ylabel="AUC, inner validation folds",
              title="stochastic pruning (our reconstruction):\nAUC of the shrunk nets")
    left.legend(fontsize=7, loc="upper left")
    right.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig
