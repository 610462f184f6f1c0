"""Guided regularization (Sandu & Rafid 2023): OUR RECONSTRUCTION, the paper's formula is not public.

Per-unit coefficients that increase with the unit's index make the later units of every layer more expensive, so
they die first and the network keeps roughly its first k units per layer (structured, not scattered, sparsity):

    R = lam * sum_l sum_j c_{l,j} * phi(W_{l,j}),     phi in {l1: ||w||_1, l2sq: ||w||_2^2, group: ||w||_2}

``W_{l,j}`` is the fan-in of unit j of layer l (row j of a Linear, filter j of a Conv). The coefficients
(:func:`guidance`) are, for a layer of n units, j = 0..n-1:

    linear: c_j proportional to (j + 1) / n
    exp:    c_j proportional to exp(kappa * ((j + 1) / n - 1))

both increasing in j and scaled to mean 1 over the layer, so that a guided and an unguided run with the same
lambda spend the same total penalty on a layer whose units have equal phi; ``uniform`` (c_j = 1) gives the
unguided penalty with the same phi. Worked example: n = 4, linear -> (0.25, 0.5, 0.75, 1.0) / 0.625
= (0.4, 0.8, 1.2, 1.6).
"""
from __future__ import annotations

from typing import Mapping

import torch

from pruninglib.regularizers.group import group_lasso_penalty

GUIDANCE = ("uniform", "linear", "exp")
PHI = ("l1", "l2sq", "group")


def guidance(n: int, schedule: str = "linear", kappa: float = 3.0) -> torch.Tensor:
    """Coefficients (n,) of one layer's units, increasing in the unit index (constant if uniform), mean 1."""
    if schedule not in GUIDANCE:
        raise ValueError(f"guidance schedule = {schedule!r} is not allowed: one of {GUIDANCE}")
    if n < 1:
        raise ValueError(f"n = {n} is not allowed: at least one unit")
    pos = torch.arange(1, n + 1, dtype=torch.float32) / n
    if schedule == "uniform":
        return torch.ones(n)
    if schedule == "linear":
        raw = pos
    elif kappa > 0:
        raw = torch.exp(kappa * (pos - 1.0))
    else:
        raise ValueError(f"kappa = {kappa!r} is not allowed: a number > 0")
    return raw / raw.mean()


def layer_guidance(weights: Mapping[str, torch.Tensor], schedule: str, kappa: float = 3.0) -> dict[str, torch.Tensor]:
    """One coefficient vector per weight tensor, sized by its number of output units, on its device."""
    return {k: guidance(w.shape[0], schedule, kappa).to(w.device) for k, w in weights.items()}


def guided_penalty(weights: Mapping[str, torch.Tensor], lam: float, phi: str,
                   coefficients: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """lam * sum_l sum_j c_{l,j} * phi(W_{l,j}) (see module docstring). Pure, differentiable."""
    if phi == "group":
        return group_lasso_penalty(weights, lam, coefficients)
    if phi not in PHI:
        raise ValueError(f"phi = {phi!r} is not allowed: one of {PHI}")
    total = torch.zeros(())
    for name, w in weights.items():
        flat = w.flatten(1)
        per_unit = flat.abs().sum(dim=1) if phi == "l1" else (flat * flat).sum(dim=1)
        total = total + (coefficients[name].to(per_unit) * per_unit).sum()
    return lam * total
