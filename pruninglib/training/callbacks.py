"""Callbacks that bring pruning into the frozen loop."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from pruninglib.models.base import Prunable
from pruninglib.pruning.mask import Mask
from pruninglib.pruning.schedules import cubic_ramp
from pruninglib.pruning.stochastic import FORMS, SCALES, Survivors, allowed_survivors, draw_zeroed
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


class StochasticPruning(Callback):
    """After every ``every`` optimizer steps, zero weights at random with p(w) decreasing in |w|.

    The target sparsity of each prunable weight follows :func:`cubic_ramp` from 0 (at ``start``) to
    ``final[i]`` (at ``end``), as fractions of training; after ``end`` the mask is frozen and only kept.
    ``generator`` draws the Bernoulli variables; it must live on the model's device. A run's masks depend only
    on the generator's seed (and, through float sums, the thread count).

    Per weight it keeps a :class:`~pruninglib.pruning.stochastic.Survivors` index (so a step draws only for
    surviving weights) and the mask as a 1.0/0.0 tensor of the weight's dtype (so keeping it is one in-place
    multiplication, skipped while a weight has no zeros). Every ``on_epoch_end`` compacts the indices, so a run
    resumed from a checkpoint (which holds the mask) rebuilds exactly the indices of the uninterrupted run.
    """

    def __init__(self, model: torch.nn.Module, final: Sequence[float], *, start: float, end: float,
                 form: str, scale: str, factor: float, every: int, generator: torch.Generator) -> None:
        assert isinstance(model, Prunable)
        weights = model.prunable()
        if len(final) != len(weights):
            raise ValueError(f"target_sparsity has {len(final)} values; the model has {len(weights)} prunable "
                             f"weights ({', '.join(weights)})")
        for name, f in zip(weights, final):
            allowed_survivors(weights[name].numel(), f, name)  # validates f
        if form not in FORMS:
            raise ValueError(f"form = {form!r} is not allowed: one of {FORMS}")
        if scale not in SCALES:
            raise ValueError(f"scale = {scale!r} is not allowed: one of {SCALES}")
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"every = {every!r} is not allowed: an integer >= 1")
        self.final = dict(zip(weights, final))
        self.start, self.end, self.form, self.scale, self.every = start, end, form, scale, every
        self.factor = factor
        self.generator = generator
        self._model, self._weights = model, weights  # looked up once: get_parameter costs ~10 us a call
        self._set_mask(Mask.ones(weights), weights)

    def _set_mask(self, mask: Mask, weights: Mapping[str, torch.Tensor]) -> None:
        """MUTATES the running state: survivors and 1.0/0.0 factors from ``mask``, on the weights' devices."""
        self._survivors = {k: Survivors.of(mask[k].to(w.device)) for k, w in weights.items()}
        self._factors = {k: mask[k].to(device=w.device, dtype=w.dtype) for k, w in weights.items()}

    @property
    def mask(self) -> Mask:
        """The current mask (a new :class:`Mask`; the callback does not keep one between steps)."""
        return Mask({k: f != 0 for k, f in self._factors.items()})

    def _keep(self, model: torch.nn.Module) -> None:
        """MUTATES the model: zeroes the pruned weights again (the optimizer step may have moved them)."""
        for name, f in self._factors.items():
            if self._survivors[name].n < f.numel():
                self._weights[name].mul_(f)

    def _check_model(self, model: torch.nn.Module) -> None:
        if model is not self._model:
            raise ValueError("StochasticPruning was built for another model than the one being trained")

    def on_fit_start(self, state: FitState) -> None:
        self._check_model(state.model)
        with torch.no_grad():
            self._keep(state.model)

    @torch.no_grad()
    def on_step_end(self, state: FitState) -> None:
        self._check_model(state.model)
        p = state.progress
        if state.step % self.every == 0 and self.start < p and (p - self.every / state.total_steps) < self.end:
            for name, final in self.final.items():
                f, s = self._factors[name], self._survivors[name]
                n_zero = s.n - allowed_survivors(f.numel(), cubic_ramp(p, final, self.start, self.end), name)
                if n_zero <= 0:
                    continue
                if draw_zeroed(name, self._weights[name], s, n_zero, form=self.form, scale=self.scale,
                               factor=self.factor, generator=self.generator):
                    f.view(-1).scatter_(0, s.index, s.live.to(f.dtype))
                if 8 * s.stale > len(s.index):  # compact when an eighth is stale
                    s.compact()
        self._keep(state.model)

    def on_epoch_end(self, state: FitState) -> None:
        for s in self._survivors.values():
            s.compact()

    def state_dict(self) -> dict[str, Any]:
        return {"mask": self.mask.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._set_mask(Mask(state["mask"]), self._factors)  # the factors have the weights' devices and dtypes
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
