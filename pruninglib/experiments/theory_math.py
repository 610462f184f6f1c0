"""The theory chapter's claims as pure functions: each computes one claim numerically next to its closed form.

(a) Update rules of a single weight: :func:`scalar_trajectories` (penalty alone) and :func:`shrinkage_map`
(penalty plus the toy loss a/2 (w - w*)^2, run to convergence). (b) The rescaling argument: :func:`rescaling_minima`
(min over c of the penalty on (c u, v / c)), :func:`rescaling_invariance` (a ReLU net's function does not change,
a tanh net's does), :func:`balance_summary` (per-unit balance of a trained net, from the rows of
:func:`~pruninglib.tracking.unit_rows`), :func:`bn_invariance` (the loss of a BatchNorm CNN does not depend on
the scale of a filter). Nothing here trains a network or writes a file.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.optimize import minimize_scalar
from torch import nn

from pruninglib.regularizers import penalty, penalty_update, soft_threshold

RULES = ("l2", "l1", "prox_l1")


def _gd(w0: torch.Tensor, rule: str, eta: float, lam: float, steps: int, curvature: float = 0.0,
        target: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Iterates of gradient descent on curvature/2 * (w - target)^2 + penalty, float64, one entry per step.

    'l2' and 'l1' take an SGD step on the loss plus the library's penalty (autograd: lam*w, lam*sign(w));
    'prox_l1' takes an SGD step on the loss alone, then the proximal step (soft-thresholding).
    """
    w = nn.Parameter(w0.clone().double())
    target = torch.zeros_like(w) if target is None else target.double()
    opt = torch.optim.SGD([w], lr=eta)
    out = [w.detach().clone()]
    for _ in range(steps):
        loss = 0.5 * curvature * (w - target).pow(2).sum()
        if rule in ("l2", "l1"):
            loss = loss + penalty(rule, [w], lam)
        opt.zero_grad()
        if loss.requires_grad:
            loss.backward()
            opt.step()
        if rule == "prox_l1":
            with torch.no_grad():
                w.copy_(penalty_update("prox_l1", w, eta, lam))
        out.append(w.detach().clone())
    return out


def scalar_trajectories(w0: float, eta: float, lam: float, steps: int) -> pd.DataFrame:
    """One weight under each penalty alone: columns rule, step, simulated, closed_form (NaN where none exists).

    Closed forms: l2 w0 (1 - eta lam)^t; l1 and prox_l1 w0 - t eta lam sign(w0) until the first crossing of 0
    (prox_l1: then exactly 0; l1: no closed form after the crossing, it hops around 0).
    """
    rows = []
    k = eta * lam
    t_zero = math.ceil(abs(w0) / k) if k > 0 else math.inf
    for rule in RULES:
        for t, w in enumerate(_gd(torch.tensor([w0], dtype=torch.float64), rule, eta, lam, steps)):
            if rule == "l2":
                closed = w0 * (1 - k) ** t
            elif t < t_zero:
                closed = w0 - t * k * math.copysign(1.0, w0)
            else:
                closed = 0.0 if rule == "prox_l1" else math.nan
            rows.append({"rule": rule, "step": t, "simulated": float(w), "closed_form": closed})
    return pd.DataFrame(rows)


def first_exact_zero(traj: pd.DataFrame) -> dict[str, int | None]:
    """Per rule, the first step at which the simulated weight is exactly 0.0 (None: never)."""
    out: dict[str, int | None] = {}
    for rule, g in traj.groupby("rule"):
        zero = g[g["simulated"] == 0.0]
        out[str(rule)] = int(zero["step"].iloc[0]) if len(zero) else None
    return out


def shrinkage_map(targets: np.ndarray, curvature: float, eta: float, lam: float, steps: int) -> pd.DataFrame:
    """Where gradient descent on curvature/2 (w - w*)^2 + penalty ends, for each w* in ``targets`` (shape (n,)).

    Columns w_star, rule, simulated (last iterate), closed_form: l2 a w*/(a + lam) (a multiplicative shrink);
    prox_l1 and l1 soft_threshold(w*, lam/a) (l1's subgradient iterate only hovers near it, within about
    eta*lam, and is exactly 0 only by accident).
    """
    t = torch.as_tensor(targets, dtype=torch.float64)
    closed = {"l2": curvature * t / (curvature + lam), "l1": soft_threshold(t, lam / curvature),
              "prox_l1": soft_threshold(t, lam / curvature)}
    frames = []
    for rule in RULES:
        last = _gd(torch.zeros_like(t), rule, eta, lam, steps, curvature, t)[-1]
        frames.append(pd.DataFrame({"w_star": targets, "rule": rule, "simulated": last.numpy(),
                                    "closed_form": closed[rule].numpy()}))
    return pd.concat(frames, ignore_index=True)


def rescaled_penalties(c: np.ndarray, u: np.ndarray, v: np.ndarray) -> dict[str, np.ndarray]:
    """The penalties of the rescaled unit (c u, v / c) for each c (shape (m,)): 'l2' (||cu||^2 + ||v/c||^2) / 2 and
    'l1' ||cu||_1 + ||v/c||_1."""
    nu2, nv2 = float(np.sum(u * u)), float(np.sum(v * v))
    nu1, nv1 = float(np.abs(u).sum()), float(np.abs(v).sum())
    return {"l2": 0.5 * (c ** 2 * nu2 + nv2 / c ** 2), "l1": c * nu1 + nv1 / c}


def rescaling_curves(u: np.ndarray, v: np.ndarray, cs: np.ndarray) -> pd.DataFrame:
    """Both penalties of the unit (c u, v / c) over the grid ``cs`` (shape (m,)), with their closed-form minima:
    columns c, penalty, value, minimum."""
    values = rescaled_penalties(cs, u, v)
    minimum = {"l2": float(np.linalg.norm(u) * np.linalg.norm(v)),
               "l1": 2 * math.sqrt(np.abs(u).sum() * np.abs(v).sum())}
    return pd.concat([pd.DataFrame({"c": cs, "penalty": k, "value": values[k], "minimum": minimum[k]})
                      for k in ("l2", "l1")], ignore_index=True)


def rescaling_minima(pairs: int, fan_in: int, fan_out: int, generator: torch.Generator) -> pd.DataFrame:
    """Numerical minimum over c > 0 (Brent's method on log c) of both penalties for ``pairs`` random units.

    u (fan_in,) and v (fan_out,) are Gaussian with independent random scales exp(N(0, 1)), so the pairs are far
    from balanced. Columns pair, penalty, numeric_min, formula (||u|| ||v||, resp. 2 sqrt(||u||_1 ||v||_1)),
    c_numeric, c_formula (sqrt(||v|| / ||u||), resp. sqrt(||v||_1 / ||u||_1)), rel_error.
    """
    rows = []
    for i in range(pairs):
        su, sv = torch.randn(2, generator=generator, dtype=torch.float64).exp()
        u = (su * torch.randn(fan_in, generator=generator, dtype=torch.float64)).numpy()
        v = (sv * torch.randn(fan_out, generator=generator, dtype=torch.float64)).numpy()
        formulas = {"l2": (np.linalg.norm(u) * np.linalg.norm(v), math.sqrt(np.linalg.norm(v) / np.linalg.norm(u))),
                    "l1": (2 * math.sqrt(np.abs(u).sum() * np.abs(v).sum()),
                           math.sqrt(np.abs(v).sum() / np.abs(u).sum()))}
        for name, (value, c_star) in formulas.items():
            res = minimize_scalar(lambda s: float(rescaled_penalties(np.array([math.exp(s)]), u, v)[name][0]),
                                  bracket=(-1.0, 1.0), tol=1e-12)
            rows.append({"pair": i, "penalty": name, "numeric_min": float(res.fun), "formula": value,
                         "c_numeric": math.exp(res.x), "c_formula": c_star,
                         "rel_error": abs(res.fun - value) / value})
    return pd.DataFrame(rows)


@torch.no_grad()
def rescaling_invariance(widths: tuple[int, int, int], c: float, generator: torch.Generator,
                         n: int = 256) -> dict[str, float]:
    """max |f(x) - f'(x)| when every hidden unit j of a random widths[0]-widths[1]-widths[2] net gets its fan-in
    and bias multiplied by c_j and its fan-out divided by c_j (c_j = c^z_j, z_j ~ N(0, 1)), with ReLU and with tanh.

    ReLU is positively homogeneous (relu(c z) = c relu(z) for c > 0), so the difference is rounding; tanh is not.
    Also returns the largest |f(x)| for scale. float64.
    """
    d, h, k = widths
    w1, b1 = torch.randn(h, d, generator=generator, dtype=torch.float64) / math.sqrt(d), torch.zeros(h).double()
    w2 = torch.randn(k, h, generator=generator, dtype=torch.float64) / math.sqrt(h)
    b1 += 0.1 * torch.randn(h, generator=generator, dtype=torch.float64)
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)
    cj = c ** torch.randn(h, generator=generator, dtype=torch.float64)
    out: dict[str, float] = {}
    for name, act in (("relu", torch.relu), ("tanh", torch.tanh)):
        f = act(x @ w1.T + b1) @ w2.T
        g = act(x @ (cj[:, None] * w1).T + cj * b1) @ (w2 / cj).T
        out[f"max_abs_diff_{name}"] = float((f - g).abs().max())
        out[f"max_abs_output_{name}"] = float(f.abs().max())
    return out


def balance_summary(units: pd.DataFrame, floor: float) -> dict[str, float]:
    """How balanced the units are and how close the penalty is to its rescaling minimum (units whose
    ||u|| ||v|| > ``floor``; the others are numerically dead and carry no penalty worth speaking of).

    ``imbalance_l2``: median of | ||u|| - ||v|| | / (||u|| + ||v||) (0 = balanced); ``penalty_ratio_l2``:
    sum (||u||^2 + ||v||^2)/2 over sum ||u|| ||v||, >= 1 by AM-GM with equality iff every unit is balanced; the
    same with L1 norms against 2 sqrt(||u||_1 ||v||_1)."""
    a = units[units["u_l2"] * units["v_l2"] > floor]
    if a.empty:
        return {"alive_units": 0.0, "imbalance_l2": math.nan, "penalty_ratio_l2": math.nan,
                "imbalance_l1": math.nan, "penalty_ratio_l1": math.nan}
    return {"alive_units": float(len(a)),
            "imbalance_l2": float(((a.u_l2 - a.v_l2).abs() / (a.u_l2 + a.v_l2)).median()),
            "penalty_ratio_l2": float((0.5 * (a.u_l2 ** 2 + a.v_l2 ** 2)).sum() / (a.u_l2 * a.v_l2).sum()),
            "imbalance_l1": float(((a.u_l1 - a.v_l1).abs() / (a.u_l1 + a.v_l1)).median()),
            "penalty_ratio_l1": float((a.u_l1 + a.v_l1).sum() / (2 * np.sqrt(a.u_l1 * a.v_l1)).sum())}


def bn_invariance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cs: tuple[float, ...] = (0.25, 0.5, 2.0, 4.0),
                  ) -> dict[str, Any]:
    """Scale the filters of the first block of a BatchNorm CNN (``convs.0``) by c, in training mode (batch
    statistics), and compare the loss and its gradient with c = 1. Computed on a float64 copy whose BatchNorm eps is
    1e-30 (PyTorch needs a positive eps in training mode), so the map is that of the derivation up to float64
    rounding (the trained nets' eps breaks the invariance by about eps / variance, up to 1e-3 for a filter whose
    outputs vary little); ``model`` is not changed.

    Returns ``loss_rel_diff`` (max over c of |L(c u) - L(u)| / L(u): zero up to BatchNorm's eps), ``grad_cosine``
    (max over the block's channels j of |<u_j, dL/du_j>| / (||u_j|| ||dL/du_j||): the gradient is orthogonal to
    the filter) and ``grad_scaling`` (max over c of | c ||dL/du(c u)|| / ||dL/du(u)|| - 1 |: the gradient shrinks
    as 1/c).
    """
    net = copy.deepcopy(model).double().train()
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eps = 1e-30
    x = x.double()
    conv = net.get_submodule("convs.0")
    w0 = conv.weight.detach().clone()

    def loss_and_grad(c: float) -> tuple[float, torch.Tensor]:
        with torch.no_grad():
            conv.weight.copy_(c * w0)
        net.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        return float(loss.detach()), conv.weight.grad.detach().clone()

    base, g = loss_and_grad(1.0)
    others = {c: loss_and_grad(c) for c in cs}
    u, gf = w0.flatten(1), g.flatten(1)
    cos = (u * gf).sum(1).abs() / (u.norm(dim=1) * gf.norm(dim=1)).clamp_min(1e-300)
    return {"loss": base,
            "loss_rel_diff": max(abs(lc - base) / base for lc, _ in others.values()),
            "grad_cosine": float(cos.max()),
            "grad_scaling": max(abs(c * float(gc.norm()) / float(g.norm()) - 1) for c, (_, gc) in others.items())}
