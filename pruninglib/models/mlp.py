"""Multi-layer perceptron with ReLU hidden layers (default 784-300-100-10, LeNet-300-100's widths)."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from pruninglib.models.base import MODELS, Coupling


@MODELS.register("mlp")
class MLP(nn.Module):
    """``Linear -> ReLU`` per hidden layer, a linear output layer. Input (N, ...) is flattened to (N, widths[0])."""

    def __init__(self, widths: Sequence[int] = (784, 300, 100, 10)) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"widths = {widths} is not allowed: at least 2 positive integers")
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    @property
    def widths(self) -> tuple[int, ...]:
        """Derived from the layers, so it stays true after surgery."""
        return (self.layers[0].in_features, *(layer.out_features for layer in self.layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = torch.relu(x)
        return x

    def example_input_shape(self) -> tuple[int, ...]:
        """The shape of one input, without the batch dimension."""
        return (self.widths[0],)

    def spec(self) -> dict[str, Any]:
        return {"name": "mlp", "kwargs": {"widths": list(self.widths)}}

    def prunable(self) -> dict[str, nn.Parameter]:
        return {f"layers.{i}.weight": layer.weight for i, layer in enumerate(self.layers)}

    def couplings(self) -> list[Coupling]:
        return [Coupling(layer=f"hidden {i + 1}", producer=f"layers.{i}", consumers=(f"layers.{i + 1}",))
                for i in range(len(self.layers) - 1)]
