"""Seaborn figures. Every function takes a tidy DataFrame (see :mod:`pruninglib.tracking.dynamics`) and returns
a matplotlib Figure; none reads files or models."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

VARIANT_ORDER = ["dense", "l2", "l1", "none"]
PALETTE = {"dense": "#4d4d4d", "l2": "#1f77b4", "l1": "#d62728", "none": "#2ca02c"}


def _order(df: pd.DataFrame) -> list[str]:
    present = list(df["variant"].unique())
    return [v for v in VARIANT_ORDER if v in present] + [v for v in present if v not in VARIANT_ORDER]


def node_death(dynamics: pd.DataFrame) -> Figure:
    """Alive-node fraction per layer over epochs (mean and spread over seeds), one line per variant."""
    df = dynamics[dynamics["metric"] == "alive_fraction"]
    order = _order(df)
    layers = sorted(df["layer"].unique())
    fig, axes = plt.subplots(1, len(layers), figsize=(4.2 * len(layers), 3.4), sharey=True, squeeze=False)
    for ax, layer in zip(axes[0], layers):
        sns.lineplot(df[df["layer"] == layer], x="epoch", y="value", hue="variant", hue_order=order,
                     palette=PALETTE, errorbar="sd", marker="o", markersize=3, ax=ax)
        ax.set(title=layer, ylabel="fraction of nodes alive", ylim=(-0.02, 1.02))
        ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
    for ax in axes[0][1:]:
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


def channels_kept(channels: pd.DataFrame) -> Figure:
    """Channels kept per block (bars: mean over folds and seeds, with sd), one bar per variant; the black tick is
    the block's width before pruning. Columns: variant, layer, channels, kept."""
    order = _order(channels)
    layers = sorted(channels["layer"].unique())
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    sns.barplot(channels, x="layer", y="kept", hue="variant", hue_order=order, order=layers, palette=PALETTE,
                errorbar="sd", ax=ax)
    widths = channels.groupby("layer")["channels"].max().reindex(layers)
    ax.scatter(range(len(layers)), widths, marker="_", s=900, color="black", zorder=5, label="before pruning")
    ax.set(xlabel="", ylabel="channels kept", title="channels left after surgery, per block")
    ax.legend(fontsize=8)
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
