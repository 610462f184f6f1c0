"""VGG-16 for CIFAR (32x32 inputs): 13 zero-padded 3x3 convolutions with BatchNorm and ReLU in five stages, a 2x2
max-pool after each stage, and a small classifier (one Linear on the 1x1 map), as in the CIFAR VGGs of Li et al.
(2017) and Liu et al. (2017). ``width`` multiplies every stage's channels (64, 128, 256, 512, 512).

The convolutions are :class:`~pruninglib.models.layers.FoldableConv2d`: a dead filter's channel carries the constant
``relu(BN(0))``, and a padded consumer sees it under fewer taps at the border; FoldableConv2d absorbs that exactly,
so surgery keeps the function. Max-pooling maps a constant map to the same constant, and after five pools a 32x32
input is 1x1, so the last stage's channels feed the classifier directly.

Sizes: 32 -> (stage 1) 16 -> (2) 8 -> (3) 4 -> (4) 2 -> (5) 1. Full width: 4,224 filters, 14.7M parameters,
0.63 GFLOPs per image (a multiply-add counted as 2).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pruninglib.models.base import MODELS, Coupling
from pruninglib.models.layers import FoldableConv2d

STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))  # VGG-16's 13 convolutions
NAMES = tuple(f"conv{s + 1}_{i + 1}" for s, stage in enumerate(STAGES) for i in range(len(stage)))


def vgg16_channels(width: float = 1.0) -> tuple[int, ...]:
    """The 13 conv widths of VGG-16 times ``width`` (rounded, at least 1). Example: width 0.25 -> 16, 16, 32, ..."""
    if not isinstance(width, (int, float)) or not 0 < width <= 4:
        raise ValueError(f"width = {width!r} is not allowed: a multiplier in (0, 4]")
    return tuple(max(1, round(c * width)) for stage in STAGES for c in stage)


@MODELS.register("vgg16")
class VGG16(nn.Module):
    """Input (N, 3, 32, 32) -> logits (N, classes). ``channels`` are the 13 conv widths (after surgery they differ
    from :func:`vgg16_channels`); a stage ends with a max-pool after its last conv."""

    def __init__(self, channels: Sequence[int] | None = None, width: float = 0.25, classes: int = 10,
                 in_channels: int = 3) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels) if channels is not None else vgg16_channels(width)
        if len(channels) != len(NAMES) or min(channels) < 1 or classes < 1 or in_channels < 1:
            raise ValueError(f"channels = {channels}, classes = {classes}, in_channels = {in_channels} are not "
                             f"allowed: {len(NAMES)} positive conv widths, positive classes and in_channels")
        widths = (in_channels, *channels)
        self.convs = nn.ModuleList(FoldableConv2d(a, b, 3, padding=1, bias=False)
                                   for a, b in zip(widths[:-1], widths[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm2d(c) for c in channels)
        self.classifier = nn.Linear(channels[-1], classes)
        ends = [sum(len(s) for s in STAGES[:k + 1]) - 1 for k in range(len(STAGES))]
        self.pool_after = frozenset(ends)

    @property
    def channels(self) -> tuple[int, ...]:
        """Derived from the layers, so it stays true after surgery."""
        return tuple(conv.out_channels for conv in self.convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = torch.relu(norm(conv(x)))
            if i in self.pool_after:
                x = F.max_pool2d(x, 2)
        return self.classifier(x.flatten(1))

    def example_input_shape(self) -> tuple[int, ...]:
        return (self.convs[0].in_channels, 32, 32)

    def spec(self) -> dict[str, Any]:
        return {"name": "vgg16", "kwargs": {"channels": list(self.channels), "classes": self.classifier.out_features,
                                            "in_channels": self.convs[0].in_channels}}

    def prunable(self) -> dict[str, nn.Parameter]:
        """The 13 filter banks and the classifier's weight (BatchNorm parameters and biases are not pruned)."""
        out = {f"convs.{i}.weight": conv.weight for i, conv in enumerate(self.convs)}
        out["classifier.weight"] = self.classifier.weight
        return out

    def couplings(self) -> list[Coupling]:
        """conv i -> BatchNorm i -> ReLU (-> max-pool) feeds conv i+1; the last conv feeds the classifier."""
        n = len(self.convs)
        return [Coupling(layer=NAMES[i], producer=f"convs.{i}", norm=f"norms.{i}",
                         consumers=(f"convs.{i + 1}",) if i + 1 < n else ("classifier",)) for i in range(n)]
