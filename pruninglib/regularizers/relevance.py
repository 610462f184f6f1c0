"""Relevance-weighted decay (Bonetta, Ribero & Cancelliere 2022), as in the authors' public code.

    R = gamma * sum_i s_i * w_i^2,     s_i = exp(-|g_i| / alpha),     g_i = dL/dw_i on the current mini-batch

``s_i`` is detached (a constant during backprop), so each weight gets the decay ``2 * gamma * s_i * w_i``:
a weight the loss does not care about (g ~ 0) gets the full decay 2*gamma*w, a relevant one (|g| >> alpha)
almost none. Worked example, alpha = 1: |g| = 0 -> s = 1; |g| = 0.1 -> s = 0.905; |g| = 3 -> s = 0.050.

Each step needs g before the penalty exists: a first backward of the data loss L (here ``torch.autograd.grad``
on the prunable weights only, keeping the graph), then the fit loop's backward of L + R. ``gamma`` falls linearly
from ``gamma0`` to 0 over one epoch of steps since the last crop and restarts at ``gamma0`` after each crop.
Here are the pure parts; the ``fit`` penalty that keeps the schedule's state (a callback, reset by
:class:`~pruninglib.training.crop.GatedCrop`) is :class:`pruninglib.training.relevance.RelevanceDecay`, so that
regularizers never import the training loop.
"""
from __future__ import annotations

from typing import Sequence

import torch


def relevance_weights(grads: Sequence[torch.Tensor], alpha: float) -> list[torch.Tensor]:
    """s = exp(-|g| / alpha) per weight, detached from any graph; shapes as ``grads``."""
    if not alpha > 0:
        raise ValueError(f"alpha = {alpha!r} is not allowed: a number > 0")
    return [torch.exp(-g.detach().abs() / alpha) for g in grads]


def relevance_penalty(weights: Sequence[torch.Tensor], scores: Sequence[torch.Tensor], gamma: float) -> torch.Tensor:
    """gamma * sum_i s_i * w_i^2 (gradient 2 * gamma * s * w; ``scores`` are constants)."""
    return gamma * sum((s * w * w).sum() for w, s in zip(weights, scores))  # type: ignore[return-value]


def linear_decay(gamma0: float, steps_since_reset: int, period: int) -> float:
    """gamma0 * (1 - t / period), clipped at 0: gamma0 right after a reset, 0 one period later."""
    return gamma0 * max(0.0, 1.0 - steps_since_reset / period)
