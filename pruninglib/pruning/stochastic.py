"""Stochastic weight pruning (Ben-Guigui, Goldberger & Riklin-Raviv), AS RECONSTRUCTED in PAPERS.md.

The paper states that after each update weights are zeroed by sampling from a probability that favours small
weights; its exact p(w), scale and schedule are not public. Our reconstruction, per layer:

    p(w) = min(1, rho * f(w)),   f(w) = exp(-|w| / tau)          (form "laplace")
                                 f(w) = exp(-w^2 / (2 sigma^2))   (form "gauss")

with tau (sigma) = ``factor`` x a statistic of the layer's surviving |w| (its std, mean or median), and rho chosen each step so
that the expected number of zeroed weights, sum_w p(w), equals the gap between the surviving count and the
count allowed by the sparsity schedule. Worked example: 1,000 surviving weights, schedule allows 990, so k = 10;
if sum_w f(w) = 400 then rho = 0.025 and a weight at w = 0 is zeroed with probability 0.025, one at |w| = tau
with 0.025/e = 0.0092.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch

from pruninglib.pruning.mask import Mask

FORMS = ("laplace", "gauss")
SCALES = ("std", "mean_abs", "median_abs")


def layer_scale(w: torch.Tensor, alive: torch.Tensor, scale: str) -> torch.Tensor:
    """The scale tau/sigma of a layer from its surviving weights (a 0-d tensor, > 0)."""
    a = torch.masked_select(w.detach(), alive)  # the same tensor as w[alive], in about half the time
    if a.numel() == 0:
        return torch.ones((), device=w.device)
    if scale == "std":
        s = a.std() if a.numel() > 1 else a.abs().mean()
    elif scale == "mean_abs":
        s = a.abs().mean()
    elif scale == "median_abs":
        s = a.abs().median()
    else:
        raise ValueError(f"scale = {scale!r} is not allowed: one of {SCALES}")
    return s.clamp_min(1e-12)


def zeroing_shape(w: torch.Tensor, alive: torch.Tensor, form: str, scale: str, factor: float = 1.0) -> torch.Tensor:
    """f(w) >= 0, decreasing in |w|, 0 where the weight is already masked. Same shape as ``w``.

    A small ``factor`` makes f sharp (close to magnitude pruning); a large one makes it flat (random pruning).
    """
    s = factor * layer_scale(w, alive, scale)
    a = w.detach().abs()
    if form == "laplace":
        f = torch.exp(-a / s)
    elif form == "gauss":
        f = torch.exp(-a.pow(2) / (2 * s * s))
    else:
        raise ValueError(f"form = {form!r} is not allowed: one of {FORMS}")
    return f * alive


def zeroing_probabilities(w: torch.Tensor, alive: torch.Tensor, n_zero: float, form: str, scale: str,
                          factor: float = 1.0) -> torch.Tensor:
    """p(w) = min(1, rho f(w)) with rho such that sum p = n_zero (exactly, unless the clamp at 1 bites)."""
    f = zeroing_shape(w, alive, form, scale, factor)
    total = f.sum()
    if n_zero <= 0 or total <= 0:
        return torch.zeros_like(f)
    rate = n_zero / total
    if not torch.isfinite(rate):
        # Every surviving weight lies far out in the tail of f (|w| around 90 scales or more), so the sum of f is
        # a denormal number and n_zero / total overflows; f * inf would give inf, and 0 * inf NaN. f / total stays
        # in [0, 1]. (The usual path keeps f * rate, so runs made before this branch existed draw the same masks.)
        return ((f / total) * n_zero).clamp_(max=1.0)
    return (f * rate).clamp_(max=1.0)


def prune_stochastic(weights: Mapping[str, torch.Tensor], mask: Mask, target_sparsity: Mapping[str, float], *,
                     form: str = "laplace", scale: str = "std", factor: float = 1.0,
                     generator: torch.Generator | None = None) -> Mask:
    """One stochastic pruning step: draw z ~ Bernoulli(p(w)) per surviving weight and return ``mask & ~z``.

    ``target_sparsity[name]`` is the sparsity the schedule asks for now; layers already at or beyond it are left
    alone. Pure: returns a new Mask; apply it with :meth:`Mask.apply_`. ``generator`` must live on the weights'
    device.
    """
    out = {}
    for name, w in weights.items():
        alive = mask[name]
        target = target_sparsity.get(name, 0.0)
        if not 0.0 <= target < 1.0:
            raise ValueError(f"target sparsity {target!r} for {name!r} is not allowed: a fraction in [0, 1)")
        allowed = math.ceil(w.numel() * (1.0 - target))
        n_zero = int(alive.sum()) - allowed
        if n_zero <= 0:
            out[name] = alive
            continue
        p = zeroing_probabilities(w, alive, n_zero, form, scale, factor)
        if not bool(torch.isfinite(p).all()):
            raise FloatingPointError(f"stochastic pruning of {name!r}: its surviving weights are not all finite "
                                     f"(training diverged); lower the learning rate or the regularizer")
        z = torch.bernoulli(p, generator=generator).bool()
        out[name] = alive & ~z
    return Mask(out)
