"""What one gradient step of a penalty alone does to a weight: the update rules of the theory chapter.

With learning rate ``eta`` and coefficient ``lam`` (the loss gradient left out; add ``-eta * g`` for a full step):

- ``l2`` (penalty lam/2 * w^2, i.e. weight decay): ``w <- (1 - eta*lam) * w``, a geometric shrink. After t steps
  ``w_t = (1 - eta*lam)^t w_0``: never exactly zero while ``0 < eta*lam < 1``.
- ``l1`` (penalty lam * |w|, plain subgradient step): ``w <- w - eta*lam*sign(w)``, a constant-rate shrink. It
  overshoots zero and then hops around it with amplitude up to ``eta*lam``; it lands exactly on 0 only by luck.
- ``prox_l1`` (the proximal step of the same penalty, i.e. soft-thresholding):
  ``w <- sign(w) * max(|w| - eta*lam, 0)``. It reaches exactly 0 after ``ceil(|w_0| / (eta*lam))`` steps and stays.

Worked example: w_0 = 1, eta = 0.1, lam = 0.5, so eta*lam = 0.05: after 20 steps l2 gives 0.95^20 = 0.358,
l1 and prox_l1 give 1 - 20*0.05 = 0 (prox_l1 exactly; l1 up to rounding, then it hops around 0).
"""
from __future__ import annotations

from typing import Callable

import torch

from pruninglib.registry import Registry

Update = Callable[[torch.Tensor, float, float], torch.Tensor]
UPDATES: Registry[Update] = Registry("penalty update rule")


def _check(eta: float, lam: float) -> None:
    if not eta > 0:
        raise ValueError(f"eta = {eta!r} is not allowed: a learning rate > 0")
    if not lam >= 0:
        raise ValueError(f"lambda = {lam!r} is not allowed: lambda >= 0")


def soft_threshold(w: torch.Tensor, threshold: float | torch.Tensor) -> torch.Tensor:
    """sign(w) * max(|w| - threshold, 0), elementwise (pure; same shape as ``w``); the proximal map of
    threshold * |w|."""
    return torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0)


@UPDATES.register("l2")
def l2_update(w: torch.Tensor, eta: float, lam: float) -> torch.Tensor:
    """(1 - eta*lam) * w."""
    _check(eta, lam)
    return (1.0 - eta * lam) * w


@UPDATES.register("l1")
def l1_update(w: torch.Tensor, eta: float, lam: float) -> torch.Tensor:
    """w - eta*lam*sign(w) (the subgradient step; sign(0) = 0)."""
    _check(eta, lam)
    return w - eta * lam * torch.sign(w)


@UPDATES.register("prox_l1")
def prox_l1_update(w: torch.Tensor, eta: float, lam: float) -> torch.Tensor:
    """soft_threshold(w, eta*lam)."""
    _check(eta, lam)
    return soft_threshold(w, eta * lam)


def penalty_update(name: str, w: torch.Tensor, eta: float, lam: float) -> torch.Tensor:
    """Apply update rule ``name`` (l2, l1, prox_l1) once; pure: returns a new tensor."""
    return UPDATES.get(name)(w, eta, lam)
