"""Regularizers as penalties on a model's prunable weights (biases are not penalized).

``l2``: lambda/2 * sum w^2, whose gradient lambda*w is exactly SGD weight decay lambda (w <- (1 - eta*lambda) w).
``l1``: lambda * sum |w|, whose subgradient lambda*sign(w) shrinks every weight at the same constant rate.
The update rules of a penalty step alone (and the proximal, soft-threshold form of L1) are in :mod:`.updates`.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from pruninglib.registry import Registry
from pruninglib.regularizers.updates import UPDATES, penalty_update, soft_threshold

Penalty = Callable[[Iterable[torch.Tensor], float], torch.Tensor]
REGULARIZERS: Registry[Penalty] = Registry("regularizer")


@REGULARIZERS.register("none")
def no_penalty(weights: Iterable[torch.Tensor], lam: float) -> torch.Tensor:
    return torch.zeros(())


class _HalfSquaredNorm(torch.autograd.Function):
    """c * sum_i ||w_i||^2 with a hand-written backward: one multiplication per weight instead of autograd's graph of
    pow, sum, add and mul nodes (a fifth of a training step of the chapter's MLP on one CPU thread).

    The gradient has the same bits as autograd's for ``c * sum(w.pow(2).sum())``: autograd computes
    ``(grad * c) * (2 * w)``; here ``w * (2 * (grad * c))``, the same real product, since doubling is exact in
    floating point, so it rounds to the same float.
    """

    @staticmethod
    def forward(ctx: Any, c: float, *weights: torch.Tensor) -> torch.Tensor:
        ctx.c = c
        ctx.save_for_backward(*weights)
        return c * sum(torch.dot(w.reshape(-1), w.reshape(-1)) for w in weights)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        scale = 2 * (grad * ctx.c)
        return (None, *(w * scale for w in ctx.saved_tensors))


@REGULARIZERS.register("l2")
def l2_penalty(weights: Iterable[torch.Tensor], lam: float) -> torch.Tensor:
    """lam/2 * sum of squares (gradient lam * w)."""
    return _HalfSquaredNorm.apply(0.5 * lam, *weights)


@REGULARIZERS.register("l1")
def l1_penalty(weights: Iterable[torch.Tensor], lam: float) -> torch.Tensor:
    """lam * sum of absolute values (subgradient lam * sign(w))."""
    return lam * sum(w.abs().sum() for w in weights)  # type: ignore[return-value]


def bn_scale_l1(model: torch.nn.Module, lam: float) -> torch.Tensor:
    """Network slimming's sparsity penalty (Liu et al. 2017): lam * sum |gamma| over the BatchNorm scales of every
    coupling of ``model`` (its subgradient lam * sign(gamma) pushes whole channels' scales to zero)."""
    norms = [model.get_submodule(c.norm).weight for c in model.couplings() if c.norm]  # type: ignore[operator]
    if not norms:
        raise ValueError(f"{type(model).__name__} has no BatchNorm in its couplings: network slimming needs one")
    return l1_penalty(norms, lam)


def penalty(name: str, weights: Iterable[torch.Tensor], lam: float) -> torch.Tensor:
    """Look up regularizer ``name`` and evaluate it; ``lam`` must be >= 0."""
    if lam < 0:
        raise ValueError(f"lambda = {lam!r} for regularizer {name!r} is not allowed: lambda >= 0")
    return REGULARIZERS.get(name)(weights, lam)

__all__ = ["REGULARIZERS", "penalty", "l1_penalty", "l2_penalty", "no_penalty", "UPDATES", "penalty_update",
           "soft_threshold"]
