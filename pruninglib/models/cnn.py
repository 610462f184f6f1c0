"""Compact CNN for small grayscale image sets (the COVID-19 chest X-ray chapter), in the spirit of the small
COVID-detection CNNs: blocks of ``conv 3x3 -> BatchNorm -> ReLU -> 2x2 max-pool``, global average pooling and a
linear head.

The convolutions are *valid* (no zero padding). That is what makes removing a dead channel exact: a dead channel
carries the same constant at every position, and a valid convolution sees that constant under every kernel tap, so
its contribution ``constant * W[:, c].sum()`` folds into the consumer's bias. With zero padding the border
positions would see fewer taps, so no bias could absorb it (see :mod:`pruninglib.surgery`). Max-pooling and global
average pooling map a constant map to the same constant, so they may sit between a block and its consumer.

Sizes with the default 4 blocks and 3x3 kernels: 128 -> 126 -> 63 -> 61 -> 30 -> 28 -> 14 -> 12 -> 6 -> GAP;
96 -> 94 -> 47 -> 45 -> 22 -> 20 -> 10 -> 8 -> 4; 64 -> 62 -> 31 -> 29 -> 14 -> 12 -> 6 -> 4 -> 2.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pruninglib.models.base import MODELS, Coupling


def feature_size(input_size: int, blocks: int, kernel_size: int = 3) -> int:
    """Side of the last feature map (before global pooling) for a square input; < 1 means too small an input."""
    s = input_size
    for _ in range(blocks):
        s = (s - kernel_size + 1) // 2
        if s < 1:
            return 0
    return s


@MODELS.register("cnn")
class CNN(nn.Module):
    """Input (N, in_channels, H, W) -> logits (N, classes). ``channels`` are the widths of the conv blocks.

    ``conv_bias`` says per block whether its conv has a bias (default: no, BatchNorm follows); surgery gives a
    conv a bias when it folds a dead channel's constant into it, and :meth:`spec` records that.
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 64, 128), in_channels: int = 1, classes: int = 2,
                 kernel_size: int = 3, conv_bias: Sequence[bool] | None = None) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 1 or min(channels) < 1 or in_channels < 1 or classes < 1 or kernel_size < 1:
            raise ValueError(f"channels = {channels}, in_channels = {in_channels}, classes = {classes}, "
                             f"kernel_size = {kernel_size} are not allowed: positive integers, at least one block")
        bias = tuple(bool(b) for b in conv_bias) if conv_bias is not None else (False,) * len(channels)
        if len(bias) != len(channels):
            raise ValueError(f"conv_bias = {bias} is not allowed: one flag per block ({len(channels)})")
        widths = (in_channels, *channels)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, kernel_size, padding=0, bias=f)
                                   for a, b, f in zip(widths[:-1], widths[1:], bias))
        self.norms = nn.ModuleList(nn.BatchNorm2d(b) for b in channels)
        self.head = nn.Linear(channels[-1], classes)

    @property
    def channels(self) -> tuple[int, ...]:
        """Derived from the layers, so it stays true after surgery."""
        return tuple(conv.out_channels for conv in self.convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = F.max_pool2d(torch.relu(norm(conv(x))), 2)
        return self.head(x.mean(dim=(2, 3)))

    def example_input_shape(self) -> tuple[int, ...]:
        """A small valid input shape (C, H, W): the smallest square side leaving a 2x2 last feature map."""
        k = self.convs[0].kernel_size[0]
        s = 2
        for _ in self.convs:
            s = 2 * s + k - 1
        return (self.convs[0].in_channels, s, s)

    def spec(self) -> dict[str, Any]:
        return {"name": "cnn", "kwargs": {"channels": list(self.channels), "in_channels": self.convs[0].in_channels,
                                          "classes": self.head.out_features,
                                          "kernel_size": self.convs[0].kernel_size[0],
                                          "conv_bias": [c.bias is not None for c in self.convs]}}

    def prunable(self) -> dict[str, nn.Parameter]:
        """Every conv filter bank and the head's weight (BatchNorm parameters and biases are not pruned)."""
        out = {f"convs.{i}.weight": conv.weight for i, conv in enumerate(self.convs)}
        out["head.weight"] = self.head.weight
        return out

    def couplings(self) -> list[Coupling]:
        """Block i's channels (conv i, then BatchNorm i, then ReLU and pooling) feed conv i+1, the last the head."""
        n = len(self.convs)
        return [Coupling(layer=f"block {i + 1}", producer=f"convs.{i}",
                         consumers=(f"convs.{i + 1}",) if i + 1 < n else ("head",), norm=f"norms.{i}")
                for i in range(n)]
