"""Figures of the comparison chapter. DataFrame in (``summary.csv`` of the chapter), Figure out."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from pruninglib.experiments.compare_summary import METHOD_INFO, SETTING_TITLES

STYLE = {  # method -> (colour, marker); papers' methods filled, baselines hollow
    "stochastic_l2": ("#1f77b4", "o"), "stochastic_l1": ("#17becf", "o"), "relevance": ("#2ca02c", "s"),
    "guided": ("#9467bd", "D"), "group_lasso": ("#d62728", "^"), "magnitude": ("#ff7f0e", "v"),
    "slimming": ("#8c564b", "P"), "magnitude_l2": ("#bcbd22", "<"),
}


def _half(ci: float) -> float:
    """A CI half-width for error bars: 0 where it is undefined (one seed)."""
    return 0.0 if math.isnan(ci) else ci


def tradeoff(summary: pd.DataFrame, x: str, xlabel: str, *, x_scale: float = 100.0) -> Figure:
    """Test accuracy of the shrunk nets (mean, 95% CI bars) against ``x`` (mean, CI bars), one panel per setting;
    the dense net as a dashed line with its CI band (and a black star at its own ``x`` when that is not the
    fraction removed). Filled markers: the papers' methods; hollow: baselines. One legend below the panels."""
    settings = list(dict.fromkeys(summary["setting"]))
    fig, axes = plt.subplots(1, len(settings), figsize=(5.4 * len(settings), 4.6), squeeze=False)
    for ax, setting in zip(axes[0], settings):
        g = summary[summary["setting"] == setting]
        dense = g[g["variant"] == "dense"].iloc[0]
        m, ci = 100 * dense["shrunk_test_accuracy"], 100 * _half(dense["shrunk_test_accuracy_ci"])
        ax.axhline(m, color="k", ls="--", lw=1, label="dense (band: 95% CI)")
        if ci > 0:
            ax.axhspan(m - ci, m + ci, color="k", alpha=0.08)
        for _, r in g[g["variant"] != "dense"].iterrows():
            colour, marker = STYLE[r["variant"]]
            paper = METHOD_INFO[r["variant"]][2]
            ax.errorbar(x_scale * r[x], 100 * r["shrunk_test_accuracy"],
                        xerr=x_scale * _half(r[f"{x}_ci"]),
                        yerr=100 * _half(r["shrunk_test_accuracy_ci"]), color=colour,
                        marker=marker, ms=7, mfc=colour if paper else "white", mew=1.5, capsize=3, lw=1.2, ls="none",
                        label=r["label"])
        if x != "nodes_removed":  # the dense net's own x (its latency), where it has one
            ax.plot(x_scale * dense[x], m, marker="*", ms=11, color="k", ls="none")
        ax.set(xlabel=xlabel, ylabel="test accuracy of the shrunk net (%)", title=SETTING_TITLES[setting])
        ax.grid(alpha=0.3)
    # one legend below the panels, so that no marker hides behind it (every panel has the same methods, dense first)
    handles, labels = max((ax.get_legend_handles_labels() for ax in axes[0]), key=lambda hl: len(hl[1]))
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig
