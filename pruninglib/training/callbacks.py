"""Callbacks that bring pruning into the frozen loop."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from pruninglib.models.base import Prunable
from pruninglib.pruning.mask import Mask
from pruninglib.pruning.schedules import cubic_ramp
from pruninglib.pruning.stochastic import prune_stochastic
from pruninglib.regularizers.group import group_prox_
from pruninglib.training.loop import Callback, FitState


class KeepMask(Callback):
    """Re-applies a fixed mask after every optimizer step, so zeros stay zero (momentum cannot revive them)."""

    def __init__(self, mask: Mask) -> None:
        self.mask = mask

    def on_fit_start(self, state: FitState) -> None:
        self.mask.apply_(state.model)

    def on_step_end(self, state: FitState) -> None:
        self.mask.apply_(state.model)

    def state_dict(self) -> dict[str, Any]:
        return {"mask": self.mask.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = next(iter(self.mask.values())).device
        self.mask = Mask(state["mask"]).to(device)


class StochasticPruning(KeepMask):
    """After every ``every`` optimizer steps, zero weights at random with p(w) decreasing in |w|.

    The target sparsity of each prunable weight follows :func:`cubic_ramp` from 0 (at ``start``) to
    ``final[i]`` (at ``end``), as fractions of training; after ``end`` the mask is frozen and only kept.
    ``generator`` draws the Bernoulli variables; it must live on the model's device.
    """

    def __init__(self, model: torch.nn.Module, final: Sequence[float], *, start: float, end: float,
                 form: str, scale: str, factor: float, every: int, generator: torch.Generator) -> None:
        assert isinstance(model, Prunable)
        weights = model.prunable()
        if len(final) != len(weights):
            raise ValueError(f"target_sparsity has {len(final)} values; the model has {len(weights)} prunable "
                             f"weights ({', '.join(weights)})")
        super().__init__(Mask.ones(weights))
        self.final = dict(zip(weights, final))
        self.start, self.end, self.form, self.scale, self.every = start, end, form, scale, every
        self.factor = factor
        self.generator = generator

    def on_step_end(self, state: FitState) -> None:
        p = state.progress
        if state.step % self.every == 0 and self.start < p and (p - self.every / state.total_steps) < self.end:
            targets = {k: cubic_ramp(p, f, self.start, self.end) for k, f in self.final.items()}
            self.mask = prune_stochastic(state.model.prunable(), self.mask, targets,  # type: ignore[operator]
                                         form=self.form, scale=self.scale, factor=self.factor,
                                         generator=self.generator)
        self.mask.apply_(state.model)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.generator.set_state(state["generator"])


class GroupProx(Callback):
    """Proximal group lasso: after every optimizer step, block soft-thresholding of the named fan-in weights with
    threshold ``lr * lam * c_j`` (``lr`` the optimizer's current learning rate, ``coefficients[name]`` the c_j,
    all 1 if absent; ``partners`` as in :func:`~pruninglib.regularizers.group.group_prox_`). Unlike a penalty's
    (sub)gradient, this sets a unit's fan-in to exactly zero once its norm falls below the threshold, so the unit
    is dead and surgery removes it. MUTATES the model's weights.
    """

    def __init__(self, names: Sequence[str], lam: float, coefficients: dict[str, torch.Tensor] | None = None,
                 partners: dict[str, str] | None = None) -> None:
        if not lam >= 0:
            raise ValueError(f"lam = {lam!r} is not allowed: a number >= 0")
        self.names, self.lam, self.coefficients, self.partners = list(names), lam, coefficients, partners

    def on_step_end(self, state: FitState) -> None:
        group_prox_(state.model, self.names, state.optimizer.param_groups[0]["lr"] * self.lam, self.coefficients,
                    self.partners)
