"""Regularizers as penalties on a model's prunable weights (biases are not penalized).

``l2``: lambda/2 * sum w^2, whose gradient lambda*w is exactly SGD weight decay lambda (w <- (1 - eta*lambda) w).
``l1``: lambda * sum |w|, whose subgradient lambda*sign(w) shrinks every weight at the same constant rate.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch

from pruninglib.registry import Registry

Penalty = Callable[[Iterable[torch.Tensor], float], torch.Tensor]
REGULARIZERS: Registry[Penalty] = Registry("regularizer")


@REGULARIZERS.register("none")
def no_penalty(weights: Iterable[torch.Tensor], lam: float) -> torch.Tensor:
    return torch.zeros(())


@REGULARIZERS.register("l2")
def l2_penalty(weights: Iterable[torch.Tensor], lam: float) -> torch.Tensor:
    """lam/2 * sum of squares (gradient lam * w)."""
    return 0.5 * lam * sum(w.pow(2).sum() for w in weights)  # type: ignore[return-value]


@REGULARIZERS.register("l1")
def l1_penalty(weights: Iterable[torch.Tensor], lam: float) -> torch.Tensor:
    """lam * sum of absolute values (subgradient lam * sign(w))."""
    return lam * sum(w.abs().sum() for w in weights)  # type: ignore[return-value]


def penalty(name: str, weights: Iterable[torch.Tensor], lam: float) -> torch.Tensor:
    """Look up regularizer ``name`` and evaluate it; ``lam`` must be >= 0."""
    if lam < 0:
        raise ValueError(f"lambda = {lam!r} for regularizer {name!r} is not allowed: lambda >= 0")
    return REGULARIZERS.get(name)(weights, lam)
