"""Figures of a regularizer-vs-schedule study: channels removed against weight sparsity, one curve per regularizer,
and the effect of the regularizer's strength. DataFrames of per-cell means and 95% intervals in, Figures out
(columns ``<metric>_mean``, ``<metric>_low``, ``<metric>_high``, as :mod:`pruninglib.experiments.unet_study`
writes them)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

COLOURS = {"l2": "#1f77b4", "l1": "#17becf", "none": "#7f7f7f", "dense": "#000000"}
LABELS = {"l2": "L2", "l1": "L1", "none": "no regularizer"}


def _bars(frame: pd.DataFrame, metric: str, scale: float = 1.0) -> np.ndarray:
    """Asymmetric error bars (2, n) from ``<metric>_low/high`` around ``<metric>_mean``; 0 where undefined."""
    m, lo, hi = (scale * frame[f"{metric}_{k}"].to_numpy(dtype=float) for k in ("mean", "low", "high"))
    return np.nan_to_num(np.vstack([m - lo, hi - m]))


def _curve(ax: Axes, frame: pd.DataFrame, x: str, y: str, colour: str, label: str, y_scale: float = 100.0) -> None:
    ax.errorbar(100 * frame[f"{x}_mean"], y_scale * frame[f"{y}_mean"], xerr=_bars(frame, x, 100.0),
                yerr=_bars(frame, y, y_scale), color=colour, marker="o", ms=5, capsize=3, lw=1.4, label=label)


def removed_vs_sparsity(cells: pd.DataFrame, forced: pd.DataFrame, dense_ap: dict[str, float], title: str) -> Figure:
    """Left: channels removed (%) against weight sparsity (%), one curve per regularizer (``variant``) with 95%
    intervals on both axes, and the share of channels the schedule forces dead by counting (``forced``: columns
    ``weight_sparsity`` and ``forced_dead``). Right: validation AP against weight sparsity, the dense net's mean
    and interval (``dense_ap``: mean, low, high) as a band. ``cells``: one row per (sparsity_scale, variant)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.4))
    for variant, g in cells.groupby("variant", sort=False):
        g = g.sort_values("weight_sparsity_mean")
        colour, label = COLOURS.get(str(variant), None), LABELS.get(str(variant), str(variant))
        _curve(left, g, "weight_sparsity", "channels_removed", colour, label)
        _curve(right, g, "weight_sparsity", "shrunk_val_ap", colour, label, y_scale=1.0)
    f = forced.sort_values("weight_sparsity")
    left.plot(100 * f["weight_sparsity"], 100 * f["forced_dead"], "k--", lw=1, label="forced by counting")
    right.axhline(dense_ap["mean"], color="k", ls="--", lw=1, label="dense (band: 95% CI)")
    if not math.isnan(dense_ap["low"]):
        right.axhspan(dense_ap["low"], dense_ap["high"], color="k", alpha=0.08)
    left.set(xlabel="weight sparsity (%)", ylabel="channels removed (%)", title=title)
    right.set(xlabel="weight sparsity (%)", ylabel="validation mean AP (shrunk net)", title="accuracy at each point")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def lambda_curves(table: pd.DataFrame, chosen: float | None = None) -> Figure:
    """Against lambda_l2 (one row per value of ``table``): left, channels removed and alive channels silenced by
    |gamma| < 1e-3 (% of all channels); middle, the validation AP drop against dense (paired by seed); right, the
    spread of the filters' norms one epoch in. 95% intervals over seeds; ``chosen`` marked by a vertical line."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.0))
    t = table.sort_values("lambda_l2")
    lam = t["lambda_l2"].to_numpy()
    for metric, label, colour in (("channels_removed", "channels removed", COLOURS["l2"]),
                                  ("silenced_alive", "alive, |gamma| < 1e-3", "#ff7f0e")):
        axes[0].errorbar(lam, 100 * t[f"{metric}_mean"], yerr=_bars(t, metric, 100.0), marker="o", ms=5, capsize=3,
                         color=colour, label=label)
    axes[1].errorbar(lam, t["ap_drop_mean"], yerr=_bars(t, "ap_drop"), marker="o", ms=5, capsize=3, color="k")
    axes[1].axhline(0.02, color="r", ls=":", lw=1, label="the AP target's bound (0.02)")
    axes[2].errorbar(lam, t["filter_norm_cv_epoch1_mean"], yerr=_bars(t, "filter_norm_cv_epoch1"), marker="o", ms=5,
                     capsize=3, color="#2ca02c")
    axes[0].set(ylabel="% of all channels", title="channels removed and silenced")
    axes[1].set(ylabel="dense minus L2 validation AP", title="accuracy cost (paired by seed)")
    axes[2].set(ylabel="coefficient of variation", title="spread of filter norms within a block, epoch 1")
    for ax in axes:
        ax.set_xlabel("lambda_l2")
        if chosen is not None:
            ax.axvline(chosen, color="k", ls="--", lw=0.8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig
