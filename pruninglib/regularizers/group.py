"""Group lasso on nodes (Wen et al. 2016, "structured sparsity learning"): one group per output unit.

A unit's group is its fan-in: row ``j`` of a Linear weight (out, in) or filter ``j`` of a Conv weight
(out, in, kh, kw), viewed as ``W.flatten(1)[j]``. The penalty is

    R(W) = lam * sum_j c_j * ||W_j||_2

with per-unit coefficients ``c_j`` (all 1 for plain group lasso; increasing in ``j`` for guided regularization,
:mod:`pruninglib.regularizers.guided`). Its gradient ``lam * c_j * W_j / ||W_j||`` has the same length
``lam * c_j`` for every non-zero group, so small groups shrink as fast as large ones and reach zero: whole units
die. Plain gradient steps only oscillate around zero; :func:`group_prox_` is the exact proximal step
(block soft-thresholding) that sets a group to exactly zero once ``||W_j|| <= eta * lam * c_j``.

Worked example: W_j = (3, 4), ||W_j|| = 5, eta * lam * c_j = 1 -> W_j <- (1 - 1/5) * (3, 4) = (2.4, 3.2).
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

# Below this norm a group counts as zero: the gradient of ||w|| is undefined at 0, and sqrt(sum w^2 + EPS^2)
# keeps it finite (the penalty at 0 is lam * c * EPS, a constant with zero gradient there).
EPS = 1e-12


def unit_norms(weight: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Norm of each output unit's fan-in: ``weight`` (out, ...) -> (out,). ``p`` = 1 or 2."""
    flat = weight.flatten(1)
    if p == 1:
        return flat.abs().sum(dim=1)
    return torch.sqrt((flat * flat).sum(dim=1) + EPS * EPS)


def group_lasso_penalty(weights: Mapping[str, torch.Tensor], lam: float,
                        coefficients: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
    """lam * sum over tensors and units of c_j * ||W_j||_2 (``coefficients[name]`` has shape (out,); 1 if absent).

    Differentiable (autograd); pure.
    """
    total = torch.zeros(())
    for name, w in weights.items():
        norms = unit_norms(w)
        c = coefficients[name].to(norms) if coefficients is not None and name in coefficients else None
        total = total + (norms * c).sum() if c is not None else total + norms.sum()
    return lam * total


@torch.no_grad()
def group_prox_(model: nn.Module, names: list[str], threshold: float,
                coefficients: Mapping[str, torch.Tensor] | None = None,
                partners: Mapping[str, str] | None = None) -> None:
    """MUTATES the named parameters of ``model``: block soft-thresholding with threshold ``threshold * c_j``.

    W_j <- max(0, 1 - t_j / ||W_j||) * W_j, the proximal operator of t_j * ||W_j||_2; ``threshold`` is the step
    size times lambda (eta * lam). ``partners[name]`` names a vector parameter (one entry per unit, e.g. the
    BatchNorm scale gamma after a convolution) whose entry j joins unit j's group: the norm is taken over both,
    and both are scaled. A convolution followed by BatchNorm computes the same function at any scale of its
    filter, so without gamma in the group the loss gradient grows as the filter shrinks and the group never
    reaches zero; with gamma in it, the channel's scale itself is penalized, and a unit can die.
    """
    partners = partners or {}
    for name in names:
        w = model.get_parameter(name)
        extra = model.get_parameter(partners[name]) if name in partners else None
        sq = (w.flatten(1) ** 2).sum(dim=1) + (extra ** 2 if extra is not None else 0.0)
        norms = torch.sqrt(sq + EPS * EPS)
        t = threshold * (coefficients[name].to(norms) if coefficients is not None and name in coefficients else 1.0)
        scale = torch.clamp(1.0 - t / norms, min=0.0)
        w.mul_(scale.view(-1, *([1] * (w.dim() - 1))))
        if extra is not None:
            extra.mul_(scale)
