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

Only surviving weights are looked at and drawn for (a zeroed weight has p = 0 and stays zeroed), through a
:class:`Survivors` index of their flat positions; over a cubic ramp to 98% sparsity the surviving share of a
layer averages about a quarter, so this is about four times cheaper than one draw per weight. A step costs a
few passes over the survivors and no compaction: weights zeroed since the last compaction stay in the index,
marked dead (``live`` 0.0), and the index is compacted when they make up an eighth of it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import torch

from pruninglib.pruning.mask import Mask

FORMS = ("laplace", "gauss", "magnitude")  # magnitude: the deterministic control, not a p(w) (see draw_zeroed)
SCALES = ("std", "mean_abs", "median_abs")


@dataclass
class Survivors:
    """The surviving weights of one tensor as flat positions. MUTABLE: :func:`draw_zeroed` marks the weights it
    zeroes, :meth:`compact` drops them.

    ``index`` (m,) int64: flat positions (ascending) of the weights that survived at the last compaction;
    ``live`` (m,) float32: 1.0 where that weight still survives, 0.0 where it was zeroed since; ``n``: the number
    of 1.0 entries, counted on the host (so a step needs no device-to-host copy to know it).
    """

    index: torch.Tensor
    live: torch.Tensor
    n: int

    @classmethod
    def of(cls, alive: torch.Tensor) -> "Survivors":
        """The survivors of a bool mask (True = survives), compacted."""
        index = alive.reshape(-1).nonzero().squeeze(1)
        return cls(index, torch.ones(len(index), device=alive.device), len(index))

    @property
    def stale(self) -> int:
        """Entries of ``index`` zeroed since the last compaction."""
        return len(self.index) - self.n

    def weights(self, w: torch.Tensor) -> torch.Tensor:
        """The surviving weights of ``w`` (detached, 1-D, aligned with ``index``), 0.0 at stale entries."""
        a = w.detach().reshape(-1).index_select(0, self.index)
        return a.mul_(self.live) if self.stale else a

    def compact(self) -> None:
        """MUTATES: drops the stale entries (the survivors and their order are unchanged)."""
        if self.stale:
            self.index = self.index[self.live > 0]
            self.live = torch.ones(len(self.index), device=self.live.device)


def layer_scale(a: torch.Tensor, n: int, scale: str, live: torch.Tensor | None = None) -> torch.Tensor:
    """The scale tau/sigma of a layer (a 0-d tensor, > 0) from its ``n`` surviving weights.

    ``a`` (1-D) holds them, and 0.0 wherever ``live`` (same shape, 1.0/0.0; None = all survive) is 0.0. std and
    mean_abs come from sums over ``a``, which those zeros do not change: std = sqrt((sum a^2 - (sum a)^2 / n) /
    (n - 1)), one pass and no compaction (in float32: relative error about 1e-7 x (1 + mean^2 / variance), far
    below what matters for a scale). median_abs compacts (it is exact, and no chapter uses it).
    """
    if scale not in SCALES:
        raise ValueError(f"scale = {scale!r} is not allowed: one of {SCALES}")
    if n == 0:
        return torch.ones((), device=a.device)
    if scale == "std" and n > 1:
        s1 = a.sum()
        return torch.addcmul(torch.dot(a, a), s1, s1, value=-1.0 / n).div_(n - 1).clamp_min_(1e-24).sqrt_()
    if scale == "median_abs":
        s = (a if live is None else a.masked_select(live > 0)).abs().median()
    else:  # mean_abs, and std of a single weight (undefined), as before
        s = a.abs().sum().div_(n)
    return s.clamp_min_(1e-12)


_FAR = 1e30  # added to |w| of stale entries, so that they do not set the minimum of |w|


def _zeroing_shape(a: torch.Tensor, n: int, form: str, scale: str, factor: float,
                   live: torch.Tensor | None) -> torch.Tensor:
    """f(w) / max f over the survivors (so the largest is 1 and the sum of f cannot underflow), 0 at stale
    entries; ``a`` as in :func:`layer_scale`, and OVERWRITTEN with the result (no new tensor)."""
    if form not in ("laplace", "gauss"):
        raise ValueError(f"form = {form!r} is not allowed: 'laplace' or 'gauss' (a p(w))")
    minus_s = layer_scale(a, n, scale, live).mul_(-factor)
    f = a.abs_()
    if form == "gauss":  # exp(-w^2 / (2 sigma^2))
        f, minus_s = f.square_(), minus_s.square_().mul_(-2.0)
    if live is not None:
        f.add_(torch.add(_FAR, live, alpha=-_FAR))  # 0.0 or _FAR exactly (f - _FAR + _FAR would lose f)
    # The clamp keeps f >= e^-87, a normal float: denormal results make exp and every later operation on them
    # 30 to 100 times slower on x86 CPUs. It cannot change a draw: such a weight has p <= n_zero e^-87, far below
    # the 2^-24 resolution of the uniform numbers (and stale entries get f = e^-87 here, 0 below).
    f = f.sub_(f.amin()).div_(minus_s).clamp_(min=-87.0).exp_()
    return f if live is None else f.mul_(live)


def zeroing_probabilities(a: torch.Tensor, n: int, n_zero: float, form: str, scale: str, factor: float = 1.0,
                          live: torch.Tensor | None = None) -> torch.Tensor:
    """p(w) = min(1, rho f(w)) for the surviving weights ``a`` (laid out as in :func:`layer_scale`), with rho
    such that sum p = n_zero (exactly, unless the clamp at 1 bites); 0 where ``live`` is 0.0. Same shape as ``a``,
    which is not changed.

    A small ``factor`` makes f sharp (close to magnitude pruning); a large one makes it flat (random pruning).
    Non-finite weights give NaN probabilities.
    """
    f = _zeroing_shape(a.clone(), n, form, scale, factor, live)
    if n_zero <= 0:
        return f.zero_()
    return f.mul_(n_zero / f.sum()).clamp_(max=1.0)


@torch.no_grad()
def draw_zeroed(name: str, w: torch.Tensor, survivors: Survivors, n_zero: int, *, form: str, scale: str,
                factor: float, generator: torch.Generator | None) -> int:
    """Draw z ~ Bernoulli(p(w)) for each surviving weight of ``w`` (one uniform number per entry of
    ``survivors.index``, stale ones included) and MUTATE ``survivors``: the drawn weights become dead. Does not
    touch ``w``. Returns how many were zeroed. One device-to-host copy (the count and a finiteness check).
    ``form`` 'magnitude' is the deterministic control: exactly the ``n_zero`` smallest |w| die, nothing is drawn.
    """
    if form == "magnitude":
        return _zero_smallest(name, w, survivors, n_zero)
    a = survivors.weights(w)
    f = _zeroing_shape(a, survivors.n, form, scale, factor, survivors.live if survivors.stale else None)
    total = f.sum()
    # z = [u < p] with p = min(1, n_zero f / total), as [f - u total / n_zero > 0]: p >= 1 always draws (u < 1),
    # and the in-place comparison gives 1.0/0.0 floats directly (a bool result would need a slow conversion)
    u = torch.rand(len(f), generator=generator, device=f.device)
    z = torch.addcmul(f, u, total, value=-1.0 / n_zero).gt_(0.0)
    zeroed, check = torch.stack([z.sum(), total]).tolist()  # the total is NaN if any surviving weight is
    if not math.isfinite(check):
        raise FloatingPointError(f"stochastic pruning of {name!r}: its surviving weights are not all finite "
                                 f"(training diverged); lower the learning rate or the regularizer")
    survivors.live.sub_(z)  # 1.0 only where f > 0, i.e. on live entries
    survivors.n -= int(zeroed)
    return int(zeroed)


def _zero_smallest(name: str, w: torch.Tensor, survivors: Survivors, n_zero: int) -> int:
    """The deterministic control of stochastic pruning (its limit as p(w) sharpens): MUTATE ``survivors`` so that
    exactly the ``n_zero`` surviving weights of smallest |w| become dead. Returns ``n_zero``."""
    a = survivors.weights(w).abs_()
    if survivors.stale:
        a.add_(torch.add(_FAR, survivors.live, alpha=-_FAR))  # dead entries are never among the smallest
    if not math.isfinite(float(a.sum())):
        raise FloatingPointError(f"magnitude pruning of {name!r}: its surviving weights are not all finite "
                                 f"(training diverged); lower the learning rate or the regularizer")
    survivors.live.index_fill_(0, torch.topk(a, n_zero, largest=False).indices, 0.0)
    survivors.n -= n_zero
    return n_zero


def allowed_survivors(numel: int, target: float, name: str) -> int:
    """How many of ``numel`` weights the target sparsity ``target`` (in [0, 1)) lets survive."""
    if not 0.0 <= target < 1.0:
        raise ValueError(f"target sparsity {target!r} for {name!r} is not allowed: a fraction in [0, 1)")
    return math.ceil(numel * (1.0 - target))


def prune_stochastic(weights: Mapping[str, torch.Tensor], mask: Mask, target_sparsity: Mapping[str, float], *,
                     form: str = "laplace", scale: str = "std", factor: float = 1.0,
                     generator: torch.Generator | None = None) -> Mask:
    """One stochastic pruning step: draw z ~ Bernoulli(p(w)) per surviving weight and return ``mask & ~z``.

    ``target_sparsity[name]`` is the sparsity the schedule asks for now; layers already at or beyond it are left
    alone. Pure: returns a new Mask; apply it with :meth:`Mask.apply_`. ``generator`` must live on the weights'
    device. (:class:`~pruninglib.training.StochasticPruning` does the same step on a :class:`Survivors` index it
    keeps between steps.)
    """
    out = {}
    for name, w in weights.items():
        alive = mask[name]
        allowed = allowed_survivors(w.numel(), target_sparsity.get(name, 0.0), name)
        survivors = Survivors.of(alive)
        if survivors.n <= allowed:
            out[name] = alive
            continue
        draw_zeroed(name, w, survivors, survivors.n - allowed, form=form, scale=scale, factor=factor,
                    generator=generator)
        out[name] = torch.zeros_like(alive).reshape(-1).index_put_((survivors.index,), survivors.live > 0).reshape(
            alive.shape)
    return Mask(out)
