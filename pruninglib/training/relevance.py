"""Relevance-weighted decay (Bonetta, Ribero & Cancelliere 2022) as a ``fit`` penalty that keeps its schedule.

The penalty itself (scores, penalty, linear decay of gamma) is in :mod:`pruninglib.regularizers.relevance`; this
module adds the state a run needs (the step of the last crop), checkpointed as a callback's.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from pruninglib.regularizers.relevance import linear_decay, relevance_penalty, relevance_weights
from pruninglib.training.loop import Callback, FitState


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
