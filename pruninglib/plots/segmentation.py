"""Figures of the U-Net chapter: channel death per block as a heatmap, and example images with instance outlines.
Tidy DataFrames and plain arrays in, Figures out."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from skimage.segmentation import find_boundaries


def alive_heatmap(dynamics: pd.DataFrame, blocks: list[str], variants: list[str]) -> Figure:
    """Fraction of channels alive per block (rows, forward order) and epoch (columns), one panel per variant
    (mean over seeds). Columns of ``dynamics``: variant, epoch, layer, metric ('alive_fraction'), value."""
    df = dynamics[(dynamics["metric"] == "alive_fraction") & dynamics["variant"].isin(variants)]
    fig, axes = plt.subplots(1, len(variants), figsize=(4.6 * len(variants), 0.28 * len(blocks) + 1.6),
                             sharey=True, squeeze=False)
    for ax, v in zip(axes[0], variants):
        grid = df[df["variant"] == v].pivot_table(index="layer", columns="epoch", values="value").reindex(blocks)
        im = ax.imshow(grid.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set(title=v, xlabel="epoch", yticks=range(len(blocks)), yticklabels=blocks)
        ticks = np.linspace(0, grid.shape[1] - 1, min(6, grid.shape[1])).round().astype(int)
        ax.set_xticks(ticks, [str(grid.columns[t]) for t in ticks])
    fig.colorbar(im, ax=axes[0].tolist(), label="fraction of channels alive", shrink=0.9)
    return fig


def channels_per_block(channels: pd.DataFrame, blocks: list[str], variants: list[str]) -> Figure:
    """Channels kept per block after surgery (mean over seeds), one bar per variant; black ticks: the width before
    pruning. Columns of ``channels``: variant, layer, channels, kept."""
    df = channels[channels["variant"].isin(variants)]
    kept = df.groupby(["layer", "variant"])["kept"].mean().unstack().reindex(index=blocks, columns=variants)
    widths = df.groupby("layer")["channels"].max().reindex(blocks)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.55 * len(blocks)), 3.8))
    step = 0.8 / len(variants)
    for k, v in enumerate(variants):
        ax.bar(np.arange(len(blocks)) - 0.4 + step * (k + 0.5), kept[v], width=step, label=v)
    ax.scatter(range(len(blocks)), widths, marker="_", s=300, color="black", zorder=5, label="before pruning")
    ax.set_xticks(range(len(blocks)), blocks, rotation=60)
    ax.set(ylabel="channels kept", title="channels left after surgery, per block (forward order)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _outlined(image: np.ndarray, labels: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    """Gray image (H, W) in any range -> RGB (H, W, 3) with instance outlines drawn in ``colour``."""
    lo, hi = np.percentile(image, [1, 99])
    g = np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.repeat(g[..., None], 3, axis=2)
    rgb[find_boundaries(labels, mode="inner")] = colour
    return rgb


def instance_overlays(images: np.ndarray, panels: dict[str, np.ndarray], titles: list[str]) -> Figure:
    """One row per image (N, H, W); one column per entry of ``panels`` (name -> instance maps (N, H, W)), each
    instance outlined on the image."""
    colours = [(0.1, 0.9, 0.2), (1.0, 0.6, 0.0), (0.2, 0.6, 1.0), (1.0, 0.2, 0.6)]
    n, m = len(images), len(panels)
    fig, axes = plt.subplots(n, m, figsize=(2.6 * m, 2.6 * n), squeeze=False)
    for i in range(n):
        for j, (name, maps) in enumerate(panels.items()):
            ax = axes[i][j]
            ax.imshow(_outlined(images[i], maps[i], colours[j % len(colours)]), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"{name}\n{titles[i][j]}" if i == 0 or titles[i][j] else name, fontsize=8)
    fig.tight_layout()
    return fig
