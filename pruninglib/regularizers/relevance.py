"""Relevance-weighted decay (Bonetta, Ribero & Cancelliere 2022), as in the authors' public code.

    R = gamma * sum_i s_i * w_i^2,     s_i = exp(-|g_i| / alpha),     g_i = dL/dw_i on the current mini-batch

``s_i`` is detached (a constant during backprop), so each weight gets the decay ``2 * gamma * s_i * w_i``:
a weight the loss does not care about (g ~ 0) gets the full decay 2*gamma*w, a relevant one (|g| >> alpha)
almost none. Worked example, alpha = 1: |g| = 0 -> s = 1; |g| = 0.1 -> s = 0.905; |g| = 3 -> s = 0.050.

Each step needs g before the penalty exists: a first backward of the data loss L (here ``torch.autograd.grad``
on the prunable weights only, keeping the graph), then the fit loop's backward of L + R. ``gamma`` falls linearly
from ``gamma0`` to 0 over one epoch of steps since the last crop and restarts at ``gamma0`` after each crop
(:meth:`RelevanceDecay.reset`, called by :class:`~pruninglib.training.crop.GatedCrop`).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from pruninglib.training.loop import Callback, FitState


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


class RelevanceDecay(Callback):
    """The penalty as a ``fit`` penalty (``penalty=decay``) that also keeps its schedule's state (a callback).

    ``period`` is the number of steps over which gamma decays (one epoch). ``state.loss`` (the data loss of the
    current mini-batch, with its graph) gives the gradients g: this is the first of the two backward passes.
    """

    def __init__(self, gamma0: float, alpha: float, period: int) -> None:
        if not gamma0 >= 0:
            raise ValueError(f"gamma0 = {gamma0!r} is not allowed: a number >= 0")
        if not alpha > 0:
            raise ValueError(f"alpha = {alpha!r} is not allowed: a number > 0")
        if period < 1:
            raise ValueError(f"period = {period!r} is not allowed: an integer >= 1")
        self.gamma0, self.alpha, self.period = gamma0, alpha, period
        self.reset_step = 0

    def gamma(self, step: int) -> float:
        """gamma for optimizer step ``step + 1`` (``step`` steps done so far)."""
        return linear_decay(self.gamma0, step - self.reset_step, self.period)

    def reset(self, step: int) -> None:
        """Restart the schedule at gamma0 (after a crop at step ``step``). Mutates this object."""
        self.reset_step = step

    def __call__(self, model: nn.Module, state: FitState) -> torch.Tensor:
        weights = list(model.prunable().values())  # type: ignore[operator]
        gamma = self.gamma(state.step)
        if gamma == 0.0 or state.loss is None:
            return torch.zeros((), device=weights[0].device)
        grads = torch.autograd.grad(state.loss, weights, retain_graph=True)
        return relevance_penalty(weights, relevance_weights(grads, self.alpha), gamma)

    def state_dict(self) -> dict[str, Any]:
        return {"reset_step": self.reset_step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.reset_step = int(state["reset_step"])
