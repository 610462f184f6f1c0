"""Every regularizer and pruning strategy as a registered, configurable choice, so any harness can run any method.

Two families, one :class:`~pruninglib.registry.Registry` each:

* :data:`PENALTIES`: ``name -> factory(model, **params)`` returning a ``fit`` penalty ``(model, state) -> loss``.
  ``l1`` and ``l2`` act on every prunable weight; ``group_lasso`` and ``guided`` act on the fan-in of the nodes
  (the producers of the model's couplings: hidden units, conv filters), not on the output layer;
  ``relevance`` is Bonetta et al.'s relevance-weighted decay (also a callback: pass it in ``callbacks`` too).
* :data:`PRUNERS`: ``name -> factory(model, **params)`` returning a callback: ``magnitude`` (Han et al.,
  prune then retrain), ``gated_crop`` (Bonetta et al.), ``group_prox`` (proximal group lasso, optionally guided),
  ``stochastic`` (Ben-Guigui et al.).

Network slimming and L1-norm filter pruning belong to the VGG chapter's code. :func:`check_params` validates
coefficients with messages that name the parameter, the value and what is allowed.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from pruninglib.config import check
from pruninglib.models.base import Prunable
from pruninglib.regularizers import penalty as simple_penalty
from pruninglib.regularizers.group import group_lasso_penalty
from pruninglib.regularizers.guided import GUIDANCE, PHI, guided_penalty, layer_guidance
from pruninglib.registry import Registry
from pruninglib.training.callbacks import GroupProx, StochasticPruning
from pruninglib.training.crop import GatedCrop, MagnitudePruning
from pruninglib.training.loop import Callback, FitState
from pruninglib.training.relevance import RelevanceDecay

PenaltyFn = Callable[[nn.Module, FitState], torch.Tensor]
PENALTIES: Registry[Callable[..., PenaltyFn]] = Registry("penalty")
PRUNERS: Registry[Callable[..., Callback]] = Registry("pruning strategy")


def check_params(**params: Any) -> None:
    """Validate the coefficients that appear: lam >= 0, gamma0 >= 0, alpha > 0, kappa > 0, tau in (0, 1),
    phi and guidance among the allowed names. Raises ConfigError naming the parameter."""
    def num(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    for name, v in params.items():
        if name in ("lam", "gamma0"):
            check(num(v) and v >= 0, name, v, "a number >= 0")
        elif name in ("alpha", "kappa"):
            check(num(v) and v > 0, name, v, "a number > 0")
        elif name == "tau":
            check(num(v) and 0 < v < 1, name, v, "a crop fraction in (0, 1)")
        elif name == "phi":
            check(v in PHI, name, v, f"one of {', '.join(map(repr, PHI))}")
        elif name == "guidance":
            check(v in GUIDANCE, name, v, f"one of {', '.join(map(repr, GUIDANCE))}")


def unit_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The fan-in weights of every node: ``<producer>.weight`` for each coupling, in the model's order."""
    assert isinstance(model, Prunable)
    return {f"{c.producer}.weight": model.get_submodule(c.producer).weight for c in model.couplings()}


@PENALTIES.register("none")
def _none(model: nn.Module) -> PenaltyFn:
    return lambda m, state: torch.zeros((), device=next(m.parameters()).device)


def _simple(name: str) -> Callable[..., PenaltyFn]:
    def factory(model: nn.Module, lam: float) -> PenaltyFn:
        check_params(lam=lam)
        return lambda m, state: simple_penalty(name, m.prunable().values(), lam)  # type: ignore[operator]
    factory.__doc__ = f"{name} on every prunable weight (see pruninglib.regularizers)"
    return factory


PENALTIES.register("l1")(_simple("l1"))
PENALTIES.register("l2")(_simple("l2"))


@PENALTIES.register("group_lasso")
def _group_lasso(model: nn.Module, lam: float) -> PenaltyFn:
    """lam * sum over nodes of ||fan-in||_2 (Wen et al. 2016)."""
    check_params(lam=lam)
    return lambda m, state: group_lasso_penalty(unit_weights(m), lam)


@PENALTIES.register("guided")
def _guided(model: nn.Module, lam: float, phi: str = "group", guidance: str = "linear",
            kappa: float = 3.0) -> PenaltyFn:
    """lam * sum_l sum_j c_{l,j} phi(W_{l,j}), c increasing in j (our reconstruction of Sandu & Rafid)."""
    check_params(lam=lam, phi=phi, guidance=guidance, kappa=kappa)
    coefficients = layer_guidance(unit_weights(model), guidance, kappa)
    return lambda m, state: guided_penalty(unit_weights(m), lam, phi, coefficients)


@PENALTIES.register("relevance")
def _relevance(model: nn.Module, gamma0: float, alpha: float, period: int) -> RelevanceDecay:
    """Bonetta et al.'s gamma * sum exp(-|g|/alpha) w^2; a callback too (its schedule state is checkpointed)."""
    check_params(gamma0=gamma0, alpha=alpha)
    return RelevanceDecay(gamma0, alpha, period)


@PRUNERS.register("magnitude")
def _magnitude(model: nn.Module, schedule: dict[int, float], scope: str = "layer") -> Callback:
    return MagnitudePruning(model.prunable(), schedule, scope)  # type: ignore[operator]


@PRUNERS.register("gated_crop")
def _gated_crop(model: nn.Module, gate: Any, bound: float, tau: float, eval_every: int,
                report: dict[str, Any] | None = None, on_crop: Callable[[int], None] | None = None) -> Callback:
    check_params(tau=tau)
    return GatedCrop(model.prunable(), gate, bound=bound, tau=tau, eval_every=eval_every,  # type: ignore[operator]
                     report=report, on_crop=on_crop)


@PRUNERS.register("group_prox")
def _group_prox(model: nn.Module, lam: float, guidance: str = "uniform", kappa: float = 3.0) -> Callback:
    """Proximal group lasso on the nodes' fan-in (exact zeros, so whole units die); a unit followed by BatchNorm
    has its scale gamma in its group. ``guidance`` other than 'uniform' gives the guided group penalty (our
    reconstruction of Sandu & Rafid) in proximal form."""
    check_params(lam=lam, guidance=guidance, kappa=kappa)
    assert isinstance(model, Prunable)
    weights = unit_weights(model)
    coefficients = None if guidance == "uniform" else layer_guidance(weights, guidance, kappa)
    partners = {f"{c.producer}.weight": f"{c.norm}.weight" for c in model.couplings() if c.norm}
    return GroupProx(list(weights), lam, coefficients, partners)


@PRUNERS.register("stochastic")
def _stochastic(model: nn.Module, **kwargs: Any) -> Callback:
    return StochasticPruning(model, **kwargs)


def make_penalty(name: str, model: nn.Module, **params: Any) -> PenaltyFn:
    """Build penalty ``name`` for ``model`` (ValueError listing the allowed names if unknown)."""
    return PENALTIES.get(name)(model, **params)


def make_pruner(name: str, model: nn.Module, **params: Any) -> Callback:
    """Build pruning strategy ``name`` for ``model`` (ValueError listing the allowed names if unknown)."""
    return PRUNERS.get(name)(model, **params)
