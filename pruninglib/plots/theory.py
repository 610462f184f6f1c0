"""Figures of the theory chapter. Each takes DataFrames from :mod:`pruninglib.experiments.theory` and returns a
matplotlib Figure; none reads files or models."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

RULE_COLORS = {"l2": "#1f77b4", "l1": "#d62728", "prox_l1": "#9467bd"}
RULE_LABELS = {"l2": "L2 (weight decay)", "l1": "L1, subgradient step", "prox_l1": "L1, proximal step"}
VARIANT_COLORS = {"none": "#2ca02c", "l2": "#1f77b4", "l1": "#d62728", "zero": "#7f7f7f", "zero+l2": "#17becf",
                  "zero+l1": "#ff7f0e", "bn": "#7f7f7f", "bn+l2": "#1f77b4"}


def update_rules(traj: pd.DataFrame) -> Figure:
    """Single weight under each penalty alone: simulated steps (markers) on the closed forms (lines), linear and
    log scale. Columns rule, step, simulated, closed_form."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.6))
    for rule, g in traj.groupby("rule", sort=False):
        c = RULE_COLORS[str(rule)]
        for ax in axes:
            ax.plot(g["step"], g["closed_form"].abs() if ax is axes[1] else g["closed_form"], color=c, lw=1.2,
                    alpha=0.6)
        axes[0].plot(g["step"], g["simulated"], "o", ms=3, color=c, label=RULE_LABELS[str(rule)])
        nz = g[g["simulated"] != 0]
        axes[1].plot(nz["step"], nz["simulated"].abs(), "o", ms=3, color=c)
        zero = g[g["simulated"] == 0]
        if len(zero):
            axes[1].axvline(zero["step"].iloc[0], color=c, ls=":", lw=1)
            axes[1].annotate(f"exactly 0 from step {zero['step'].iloc[0]}", (zero["step"].iloc[0], 1e-3),
                             color=c, fontsize=8, rotation=90, ha="right")
    axes[0].axhline(0, color="0.6", lw=0.8)
    axes[0].set(xlabel="step t", ylabel="w", title="w under the penalty alone (lines: closed forms)")
    axes[1].set(xlabel="step t", ylabel="|w| (log scale; exact zeros not drawn)", yscale="log", ylim=(1e-17, 3),
                title="L2 shrinks geometrically, L1 linearly")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def shrinkage(shrink: pd.DataFrame, band: float) -> Figure:
    """Where each penalty moves the minimiser w* of a/2 (w - w*)^2 (markers: gradient descent; lines: closed
    forms). ``band`` = lambda/a, the half-width of prox-L1's dead zone. Columns w_star, rule, simulated,
    closed_form."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    for ax, (rule, g) in zip(axes, shrink.groupby("rule", sort=False)):
        c = RULE_COLORS[str(rule)]
        ax.plot(g["w_star"], g["w_star"], color="0.75", lw=0.8, ls="--", label="no penalty")
        ax.plot(g["w_star"], g["closed_form"], color=c, lw=1.5, alpha=0.6, label="closed form")
        ax.plot(g["w_star"], g["simulated"], "o", ms=2.5, color=c, label="gradient descent")
        ax.axvspan(-band, band, color="0.9", zorder=0)
        exact = int((g["simulated"] == 0).sum())
        ax.set(title=f"{RULE_LABELS[str(rule)]}\n{exact} of {len(g)} end exactly at 0", xlabel="w* (no penalty)")
    axes[0].set_ylabel("w where descent ends")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def rescaling(minima: pd.DataFrame, curves: pd.DataFrame) -> Figure:
    """Left: both penalties of one unit as functions of the rescaling c (columns c, penalty, value, minimum);
    right: numerical minima against the formulas for all random pairs (columns penalty, numeric_min, formula)."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8))
    for name, g in curves.groupby("penalty"):
        c = RULE_COLORS[str(name)]
        axes[0].plot(g["c"], g["value"], color=c, label=f"{name}: formula {g['minimum'].iloc[0]:.3g}")
        axes[0].axhline(g["minimum"].iloc[0], color=c, ls=":", lw=1)
    axes[0].set(xscale="log", yscale="log", xlabel="rescaling c (u -> c u, v -> v / c)",
                ylabel="penalty of the rescaled unit", title="one unit: the minimum over c is the formula")
    axes[0].legend(fontsize=8)
    for name, g in minima.groupby("penalty"):
        axes[1].plot(g["formula"], g["numeric_min"], "o", ms=3, alpha=0.6, color=RULE_COLORS[str(name)],
                     label={"l2": "L2: vs ||u|| ||v||", "l1": "L1: vs 2 sqrt(||u||_1 ||v||_1)"}[str(name)])
    lo, hi = minima["formula"].min(), minima["formula"].max()
    axes[1].plot([lo, hi], [lo, hi], color="0.4", lw=0.8, ls="--")
    axes[1].set(xscale="log", yscale="log", xlabel="formula", ylabel="numerical minimum over c",
                title=f"{minima['pair'].nunique()} random units")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def balance(units: pd.DataFrame, variants: list[str]) -> Figure:
    """||u_j|| against ||v_j|| for every hidden unit, at initialisation (grey) and at the end of training, one
    panel per variant; the diagonal is balance. Columns variant, seed, step, u_l2, v_l2."""
    fig, axes = plt.subplots(1, len(variants), figsize=(3.6 * len(variants), 3.5), sharex=True, sharey=True,
                             squeeze=False)
    for ax, v in zip(axes[0], variants):
        u = units[units["variant"] == v]
        end = u[u["step"] == u.groupby("seed")["step"].transform("max")]
        ax.plot(u[u["step"] == 0]["u_l2"], u[u["step"] == 0]["v_l2"], ".", color="0.7", ms=3, label="initial")
        ax.plot(end["u_l2"], end["v_l2"], ".", color=VARIANT_COLORS[v], ms=4, label="trained")
        lim = np.array([1e-6, 10.0])
        ax.plot(lim, lim, color="0.3", lw=0.8, ls="--")
        ax.set(xscale="log", yscale="log", xlim=(1e-5, 5), ylim=(1e-5, 5), title=v, xlabel="||u_j|| (fan-in)")
    axes[0][0].set_ylabel("||v_j|| (fan-out)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def unit_distributions(units: pd.DataFrame, variants: list[str], fan_in: int) -> Figure:
    """Left: distribution of log10 ||u_j|| ||v_j|| over the hidden units at the end (a gap = whole units dead);
    right: Hoyer sparsity of the fan-in of the living units, (sqrt(n) - ||u||_1/||u||_2) / (sqrt(n) - 1), 0 for
    equal magnitudes, 1 for a single non-zero weight (scattered small weights inside living units)."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.6))
    sq = np.sqrt(fan_in)
    for v in variants:
        u = units[units["variant"] == v]
        end = u[u["step"] == u.groupby("seed")["step"].transform("max")]
        prod = (end["u_l2"] * end["v_l2"]).clip(lower=1e-12)
        sns.histplot(np.log10(prod), bins=40, binrange=(-12, 1), element="step", fill=False,
                     color=VARIANT_COLORS[v], label=v, ax=axes[0])
        alive = end[end["fan_in_alive"] > 0]
        hoyer = (sq - alive["u_l1"] / alive["u_l2"].clip(lower=1e-30)) / (sq - 1)
        sns.kdeplot(hoyer, color=VARIANT_COLORS[v], label=v, ax=axes[1], cut=0, warn_singular=False)
    axes[0].set(xlabel="log10 ||u_j|| ||v_j|| (values below -12 drawn at -12)", ylabel="hidden units",
                title="whole units: alive or gone")
    axes[1].set(xlabel="Hoyer sparsity of u_j (living units)", title="inside living units")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def batchnorm(units: pd.DataFrame, layer: str = "block 1") -> Figure:
    """BatchNorm CNN runs: the median filter norm of ``layer`` over steps (band: 10-90% of its channels) and the
    effective learning rate lr / ||u||^2 of the median filter. Columns variant, seed, step, lr, layer, u_l2."""
    d = units[units["layer"] == layer]
    g = d.groupby(["variant", "step"])
    stats = pd.DataFrame({"median": g["u_l2"].median(), "lo": g["u_l2"].quantile(0.1),
                          "hi": g["u_l2"].quantile(0.9), "lr": g["lr"].first()}).reset_index()
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.6))
    for v, s in stats.groupby("variant"):
        c = VARIANT_COLORS.get(str(v), "k")
        axes[0].plot(s["step"], s["median"], color=c, label=str(v))
        axes[0].fill_between(s["step"], s["lo"], s["hi"], color=c, alpha=0.2)
        axes[1].plot(s["step"], s["lr"] / s["median"] ** 2, color=c, label=str(v))
    axes[0].set(xlabel="step", ylabel="||u_j|| (filter norm)", ylim=(0, None),
                title=f"{layer}: filter norms (median, 10-90%)")
    axes[1].set(xlabel="step", ylabel="lr / ||u||^2", yscale="log",
                title="effective learning rate of the median filter")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def death_curves(deaths: pd.DataFrame, variants: list[str], numerical: list[str]) -> Figure:
    """Fraction of hidden units dead over steps: exactly dead (all fan-in zero) for ``variants``, numerically
    dead (dashed) for ``numerical``; mean over seeds, band = min to max. Columns variant, seed, step, exact,
    numerical."""
    fig, ax = plt.subplots(figsize=(6.6, 4.0))
    for kind, names, ls in (("exact", variants, "-"), ("numerical", numerical, "--")):
        for v in names:
            d = deaths[deaths["variant"] == v].groupby("step")[kind]
            c = VARIANT_COLORS[v]
            how = "exactly" if kind == "exact" else "numerically"
            ax.plot(d.mean().index, d.mean(), color=c, ls=ls, label=f"{v} ({how} dead)")
            ax.fill_between(d.mean().index, d.min(), d.max(), color=c, alpha=0.15)
    ax.set(xlabel="optimizer step", ylabel="fraction of hidden units dead", ylim=(-0.02, 1.02))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def unit_trajectories(units: pd.DataFrame, variants: list[str], nodes: int = 24) -> Figure:
    """Fan-in norm ||u_j|| over steps of the first ``nodes`` hidden units of the first seed, one panel per variant;
    units that end exactly dead are drawn in colour, the others in grey. Columns variant, seed, step, node, u_l2,
    fan_in_alive."""
    fig, axes = plt.subplots(1, len(variants), figsize=(5.2 * len(variants), 3.4), sharey=True, squeeze=False)
    for ax, v in zip(axes[0], variants):
        u = units[(units["variant"] == v) & (units["node"] < nodes)]
        u = u[u["seed"] == u["seed"].min()]
        last = u[u["step"] == u["step"].max()].set_index("node")["fan_in_alive"]
        for node, g in u.groupby("node"):
            dies = last.get(node, 1) == 0
            ax.plot(g["step"], g["u_l2"], color=VARIANT_COLORS[v] if dies else "0.7", lw=1.2 if dies else 0.8)
        ax.set(title=f"{v}: {int((last == 0).sum())} of {len(last)} units die", xlabel="optimizer step", ylim=(0, None))
    axes[0][0].set_ylabel("||u_j|| (fan-in norm)")
    fig.tight_layout()
    return fig
