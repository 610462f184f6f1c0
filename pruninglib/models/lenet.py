"""LeNet-5 as in Bonetta et al.'s public code (the Caffe variant): conv 5x5 1->20, ReLU, 2x2 max-pool, conv 5x5
20->50, ReLU, 2x2 max-pool, flatten, FC 800->500, ReLU, FC 500->10; no BatchNorm, no padding.

Sizes for a 28x28 input: 28 -> 24 -> 12 -> 8 -> 4, so the flattened map has 50 * 4 * 4 = 800 features.
The convolutions are valid (unpadded), so removing a dead filter is exact with plain ``Conv2d``: its constant map
``relu(bias)`` folds into the next conv's bias (see :mod:`pruninglib.surgery`). The first FC layer is a
:class:`~pruninglib.models.layers.FlattenLinear` (16 inputs per conv-2 channel), so surgery drops a dead channel's
16 columns at once.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pruninglib.models.base import MODELS, Coupling
from pruninglib.models.layers import FlattenLinear

SIDE = 4  # side of conv 2's pooled map for a 28x28 input


@MODELS.register("lenet5")
class LeNet5(nn.Module):
    """Input (N, 1, 28, 28) -> logits (N, classes). ``channels`` = (conv 1, conv 2) filters, ``hidden`` FC units."""

    def __init__(self, channels: Sequence[int] = (20, 50), hidden: int = 500, classes: int = 10) -> None:
        super().__init__()
        c1, c2 = (int(c) for c in channels)
        if min(c1, c2, hidden, classes) < 1:
            raise ValueError(f"channels = {tuple(channels)}, hidden = {hidden}, classes = {classes} are not "
                             f"allowed: positive integers")
        self.conv1 = nn.Conv2d(1, c1, 5)
        self.conv2 = nn.Conv2d(c1, c2, 5)
        self.fc1 = FlattenLinear(c2 * SIDE * SIDE, hidden, group=SIDE * SIDE)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))

    def example_input_shape(self) -> tuple[int, ...]:
        return (1, 28, 28)

    def spec(self) -> dict[str, Any]:
        return {"name": "lenet5", "kwargs": {"channels": [self.conv1.out_channels, self.conv2.out_channels],
                                             "hidden": self.fc1.out_features, "classes": self.fc2.out_features}}

    def prunable(self) -> dict[str, nn.Parameter]:
        """The four weight tensors (430,500 weights). Bonetta et al.'s code also prunes biases; we do not."""
        return {f"{name}.weight": getattr(self, name).weight for name in ("conv1", "conv2", "fc1", "fc2")}

    def couplings(self) -> list[Coupling]:
        return [Coupling(layer="conv 1", producer="conv1", consumers=("conv2",)),
                Coupling(layer="conv 2", producer="conv2", consumers=("fc1",)),
                Coupling(layer="fc 1", producer="fc1", consumers=("fc2",))]
