"""Callbacks that prune by magnitude at chosen moments and keep the mask: Bonetta et al.'s gated crop and Han et
al.'s prune-then-retrain.

:class:`GatedCrop` (Bonetta, Ribero & Cancelliere 2022, from the authors' code): every ``eval_every`` optimizer
steps, evaluate validation accuracy; if it EXCEEDS ``bound``, prune ("crop") a fraction ``tau`` of the remaining
weights by global magnitude and tell ``on_crop`` (the relevance decay restarts its gamma schedule). After k crops
the sparsity is 1 - (1 - tau)^k (up to rounding to whole weights). Every evaluation is one tidy row.

:class:`MagnitudePruning` (Han et al. 2015): at the end of the epochs in ``schedule``, prune by magnitude to the
given sparsity (per layer or global), then keep the mask while training goes on (retraining).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

from pruninglib.data.tensors import Split
from pruninglib.metrics import evaluate
from pruninglib.pruning.magnitude import SCOPES, prune_magnitude
from pruninglib.pruning.mask import Mask
from pruninglib.training.callbacks import KeepMask
from pruninglib.training.loop import FitState


def crop_sparsity(current: float, tau: float) -> float:
    """Sparsity after cropping a fraction ``tau`` of the remaining weights: 1 - (1 - current) * (1 - tau)."""
    if not 0.0 < tau < 1.0:
        raise ValueError(f"tau = {tau!r} is not allowed: a crop fraction in (0, 1)")
    return 1.0 - (1.0 - current) * (1.0 - tau)


def crop(weights: Mapping[str, torch.Tensor], mask: Mask, tau: float) -> Mask:
    """The mask after cropping ``tau`` of the weights that ``mask`` keeps, smallest |w| over all tensors. Pure."""
    return prune_magnitude(weights, crop_sparsity(mask.sparsity(), tau), scope="global", mask=mask)


class GatedCrop(KeepMask):
    """Crop when validation accuracy > ``bound`` at an evaluation (every ``eval_every`` steps); keep the mask.

    ``gate`` is the validation split. ``report`` splits (e.g. test) are evaluated only when a crop is triggered,
    i.e. for the nets the authors checkpoint (just before each crop). ``rows`` gets one dict per evaluation: step,
    finished epochs, crops so far, sparsity of the evaluated net, ``val_accuracy``, ``<name>_accuracy`` per
    report split (NaN without a crop), and ``cropped``.
    """

    def __init__(self, weights: Mapping[str, torch.Tensor], gate: Split, *, bound: float, tau: float,
                 eval_every: int, report: Mapping[str, Split] | None = None,
                 on_crop: Callable[[int], None] | None = None) -> None:
        if not 0.0 <= bound <= 1.0:
            raise ValueError(f"bound = {bound!r} is not allowed: an accuracy in [0, 1]")
        crop_sparsity(0.0, tau)  # validates tau
        if eval_every < 1:
            raise ValueError(f"eval_every = {eval_every!r} is not allowed: an integer >= 1")
        super().__init__(Mask.ones(weights))
        self.gate, self.report, self.on_crop = gate, dict(report or {}), on_crop
        self.bound, self.tau, self.eval_every = bound, tau, eval_every
        self.rows: list[dict[str, Any]] = []
        self.crops = 0

    def on_step_end(self, state: FitState) -> None:
        self.mask.apply_(state.model)
        if state.step % self.eval_every:
            return
        val = evaluate(state.model, self.gate)["accuracy"]
        gate = val > self.bound
        self.rows.append({"step": state.step, "epochs_done": state.epoch, "crops_before": self.crops,
                          "sparsity": self.mask.sparsity(), "val_accuracy": val,
                          **{f"{k}_accuracy": evaluate(state.model, split)["accuracy"] if gate else float("nan")
                             for k, split in self.report.items()}, "cropped": bool(gate)})
        if gate:
            self.mask = crop(state.model.prunable(), self.mask, self.tau)  # type: ignore[operator]
            self.mask.apply_(state.model)
            self.crops += 1
            if self.on_crop is not None:
                self.on_crop(state.step)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rows": self.rows, "crops": self.crops}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rows, self.crops = list(state["rows"]), int(state["crops"])


class MagnitudePruning(KeepMask):
    """Han et al.: after each epoch named in ``schedule`` ({epoch: sparsity}), prune by magnitude to that sparsity
    (one fraction, or one per weight name for scope 'layer'; ``scope`` 'layer' or 'global'; monotone, already-pruned weights stay pruned); always keep the mask."""

    def __init__(self, weights: Mapping[str, torch.Tensor], schedule: Mapping[int, float | Mapping[str, float]],
                 scope: str = "layer") -> None:
        if scope not in SCOPES:
            raise ValueError(f"scope = {scope!r} is not allowed: one of {SCOPES}")
        for epoch, s in schedule.items():
            values = list(s.values()) if isinstance(s, Mapping) else [s]
            if not (isinstance(epoch, int) and epoch >= 1 and all(0.0 <= v < 1.0 for v in values)):
                raise ValueError(f"schedule entry {epoch!r}: {s!r} is not allowed: epoch >= 1, sparsity in [0, 1) "
                                 f"(one value, or one per weight)")
        super().__init__(Mask.ones(weights))
        self.schedule, self.scope = dict(schedule), scope

    def on_epoch_end(self, state: FitState) -> None:
        if state.epoch in self.schedule:
            self.mask = prune_magnitude(state.model.prunable(), self.schedule[state.epoch],  # type: ignore[operator]
                                        scope=self.scope, mask=self.mask)
            self.mask.apply_(state.model)
