"""Seaborn figures. Every function takes a tidy DataFrame (see :mod:`pruninglib.tracking.dynamics`) and returns
a matplotlib Figure; none reads files or models."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

VARIANT_ORDER = ["dense", "l2", "l1", "none", "magnitude", "magnitude-epoch", "scratch", "l1_norm", "slimming"]
PALETTE = {"dense": "#4d4d4d", "l2": "#1f77b4", "l1": "#d62728", "none": "#2ca02c", "magnitude": "#8c564b",
           "magnitude-epoch": "#e377c2", "scratch": "#bcbd22", "l1_norm": "#9467bd", "slimming": "#ff7f0e"}


def _order(df: pd.DataFrame) -> list[str]:
    present = list(df["variant"].unique())
    return [v for v in VARIANT_ORDER if v in present] + [v for v in present if v not in VARIANT_ORDER]


def node_death(dynamics: pd.DataFrame, columns: int | None = None) -> Figure:
    """Alive-node fraction per layer over epochs (mean and spread over seeds), one line per variant; one panel
    per layer, ``columns`` panels per row (default: all in one row)."""
    df = dynamics[dynamics["metric"] == "alive_fraction"]
    order = _order(df)
    layers = sorted(df["layer"].unique())
    ncol = min(columns or len(layers), len(layers))
    nrow = -(-len(layers) // ncol)
    w, h = (4.2, 3.4) if columns is None else (2.9, 2.5)  # one row of wide panels, or a grid of small ones
    fig, grid = plt.subplots(nrow, ncol, figsize=(w * ncol, h * nrow), sharey=True, squeeze=False)
    axes = list(grid.flat)
    for ax in axes[len(layers):]:
        ax.axis("off")
    for ax, layer in zip(axes, layers):
        sns.lineplot(df[df["layer"] == layer], x="epoch", y="value", hue="variant", hue_order=order,
                     palette=PALETTE, errorbar="sd", marker="o", markersize=3, ax=ax)
        ax.set(title=layer, ylabel="fraction of nodes alive", ylim=(-0.02, 1.02))
        ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
    for ax in axes[1:len(layers)]:
        ax.get_legend().remove()
    fig.tight_layout()
    return fig


def weight_sparsity(dynamics: pd.DataFrame) -> Figure:
    """Weight sparsity per layer over epochs, one line per variant (the schedule the pruner follows)."""
    df = dynamics[dynamics["metric"] == "weight_sparsity"]
    g = sns.relplot(df, x="epoch", y="value", hue="variant", hue_order=_order(df), palette=PALETTE,
                    col="layer", kind="line", errorbar="sd", height=3.0, aspect=1.2)
    g.set_axis_labels("epoch", "weight sparsity")
    g.set_titles("{col_name}")
    return g.figure


def fan_in_trajectories(dynamics: pd.DataFrame, nodes: int = 12, seed: int | None = None) -> Figure:
    """Fan-in L2 norm over epochs for the first ``nodes`` nodes of each layer (one seed), variant x layer grid.

    Lines that reach zero are nodes that died."""
    df = dynamics[(dynamics["metric"] == "fan_in_norm") & (dynamics["node"] < nodes)]
    seed = df["seed"].min() if seed is None else seed
    df = df[df["seed"] == seed].copy()
    df["node"] = df["node"].astype(int)
    g = sns.relplot(df, x="epoch", y="value", units="node", estimator=None, row="variant", col="layer",
                    row_order=_order(df), kind="line", hue="node", palette="viridis", legend=False, lw=1,
                    height=2.4, aspect=1.6)
    g.set(ylim=(0, None))
    g.set_axis_labels("epoch", "fan-in norm ||u||")
    g.set_titles("{row_name} | {col_name}")
    return g.figure


def accuracy_vs_removed(dynamics: pd.DataFrame, summary: pd.DataFrame) -> Figure:
    """Validation accuracy against the fraction of hidden nodes dead, epoch by epoch (lines, one per run), and
    the final test accuracy of each shrunk net (large markers)."""
    alive = dynamics[(dynamics["metric"] == "alive_fraction")]
    nodes = dynamics[(dynamics["metric"] == "fan_in_norm")].groupby(["variant", "seed", "epoch", "layer"]).size()
    # overall dead fraction = node-weighted mean over layers
    w = nodes.rename("n").reset_index()
    a = alive.merge(w, on=["variant", "seed", "epoch", "layer"])
    a["dead"] = (1 - a["value"]) * a["n"]
    removed = a.groupby(["variant", "seed", "epoch"]).apply(lambda g: g["dead"].sum() / g["n"].sum(),
                                                           include_groups=False).rename("removed")
    acc = dynamics[(dynamics["metric"] == "accuracy") & (dynamics["split"] == "val")].set_index(
        ["variant", "seed", "epoch"])["value"].rename("val_accuracy")
    traj = pd.concat([removed, acc], axis=1).reset_index()
    traj = traj[traj["epoch"] > 0]
    order = _order(traj)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    sns.lineplot(traj, x="removed", y="val_accuracy", hue="variant", hue_order=order, palette=PALETTE,
                 units="seed", estimator=None, sort=False, alpha=0.45, lw=1, ax=ax, legend=False)
    sns.scatterplot(summary, x="nodes_removed", y="shrunk_test_accuracy", hue="variant", hue_order=order,
                    palette=PALETTE, style="variant", s=90, ax=ax, zorder=5)
    ax.set(xlabel="fraction of hidden nodes removed", ylabel="accuracy",
           title="lines: validation accuracy by epoch; markers: final shrunk net on test")
    ax.axvline(0.5, color="0.6", lw=0.8, ls=":")
    ax.set_xlim(-0.02, min(1.0, float(traj["removed"].max()) + 0.15))
    fig.tight_layout()
    return fig


def channels_kept(channels: pd.DataFrame, title: str = "channels left after surgery, per block") -> Figure:
    """Channels kept per block (bars: mean over folds and seeds, with sd), one bar per variant; the black tick is
    the block's width before pruning. Columns: variant, layer, channels, kept."""
    order = _order(channels)
    layers = sorted(channels["layer"].unique())
    fig, ax = plt.subplots(figsize=(max(6.4, 0.25 * len(layers) * len(order)), 3.8))
    sns.barplot(channels, x="layer", y="kept", hue="variant", hue_order=order, order=layers, palette=PALETTE,
                errorbar="sd", ax=ax)
    widths = channels.groupby("layer")["channels"].max().reindex(layers)
    ax.scatter(range(len(layers)), widths, marker="_", s=900, color="black", zorder=5, label="before pruning")
    ax.set(xlabel="", ylabel="channels kept", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def accuracy_vs_fraction_removed(curve: pd.DataFrame, target: float | None = None) -> Figure:
    """Accuracy against the fraction of filters removed. Columns: method, kind, fraction_removed, accuracy.

    Kinds: 'no fine-tuning (test)' (dashed lines: a baseline's filters removed at several fractions),
    'during training, by epoch (val)' (thin lines: a stochastic run epoch by epoch), 'final, shrunk (test)'
    (large markers: each method's final shrunk net). ``target`` draws a vertical line (e.g. 0.6)."""
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    order = [m for m in VARIANT_ORDER if m in set(curve["method"])]
    for kind, style in (("no fine-tuning (test)", dict(ls="--", marker=".")),
                        ("during training, by epoch (val)", dict(ls="-", lw=1, alpha=0.6, marker="."))):
        d = curve[curve["kind"] == kind]
        for m in order:
            g = d[d["method"] == m].sort_values("epoch" if "epoch" in d and d["epoch"].notna().any()
                                               else "fraction_removed")
            if len(g):
                ax.plot(g["fraction_removed"], g["accuracy"], color=PALETTE.get(m), **style)  # type: ignore[arg-type]
    final = curve[curve["kind"] == "final, shrunk (test)"]
    for m in order:
        g = final[final["method"] == m]
        ax.scatter(g["fraction_removed"], g["accuracy"], s=90, color=PALETTE.get(m), label=m, zorder=5,
                   edgecolor="black", lw=0.6)
    if target is not None:
        ax.axvline(target, color="0.6", lw=0.8, ls=":")
    ax.set(xlabel="fraction of conv filters removed", ylabel="accuracy", xlim=(-0.02, 1.0),
           title="markers: final shrunk nets (test); dashed: baselines without fine-tuning;\n"
                 "thin: stochastic runs epoch by epoch (validation)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def roc_curves(curves: pd.DataFrame) -> Figure:
    """ROC curves, one per variant. Columns: variant, fpr, tpr (and optionally auc for the legend)."""
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for v in _order(curves):
        d = curves[curves["variant"] == v]
        label = f"{v} (AUC {d['auc'].iloc[0]:.3f})" if "auc" in d else v
        ax.step(d["fpr"], d["tpr"], where="post", color=PALETTE.get(v), label=label, lw=1.4)
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
    ax.set(xlabel="false positive rate (1 - specificity)", ylabel="true positive rate (sensitivity)",
           title="pooled out-of-fold ROC", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def fold_metric(per_fold: pd.DataFrame, metric: str = "auc") -> Figure:
    """``metric`` per fold, one line per variant (lines join the same fold: the comparison is paired).
    Columns: variant, fold, ``metric``."""
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    sns.pointplot(per_fold, x="fold", y=metric, hue="variant", hue_order=_order(per_fold), palette=PALETTE,
                  dodge=0.3, markersize=5, linewidth=1.2, ax=ax)
    ax.set(ylabel=metric.replace("_", " "), title=f"{metric.replace('_', ' ')} on each held-out fold")
    fig.tight_layout()
    return fig


def image_grid(images: pd.DataFrame, columns: int = 4) -> Figure:
    """Grayscale images with titles. Columns: image (2-D array), title."""
    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.7 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (_, r) in zip(axes.flat, images.iterrows()):
        ax.imshow(r["image"], cmap="gray")
        ax.set_title(r["title"], fontsize=7)
    fig.tight_layout()
    return fig
