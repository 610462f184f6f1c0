"""Node-level views of a model: which nodes are dead and how large their fan-in is.

A node (unit, filter, channel) is *dead* when all of its fan-in weights are zero; it then carries the constant
activation(bias). The nodes are the output units of each :class:`~pruninglib.models.Coupling`'s producer.
"""
from __future__ import annotations

import torch
from torch import nn

from pruninglib.models.base import Prunable


def _fan_in(model: nn.Module, producer: str) -> torch.Tensor:
    """Producer weight as (out_units, fan_in)."""
    return model.get_submodule(producer).weight.detach().flatten(1)


def dead_nodes(model: nn.Module) -> dict[str, torch.Tensor]:
    """Per coupling layer label, a bool tensor (units,) that is True where all fan-in weights are zero."""
    assert isinstance(model, Prunable)
    return {c.layer: (_fan_in(model, c.producer) == 0).all(dim=1) for c in model.couplings()}


def fan_in_norms(model: nn.Module) -> dict[str, torch.Tensor]:
    """Per coupling layer label, the L2 norm of each node's fan-in weights, shape (units,)."""
    assert isinstance(model, Prunable)
    return {c.layer: _fan_in(model, c.producer).norm(dim=1) for c in model.couplings()}


def node_summary(model: nn.Module) -> dict[str, dict[str, float]]:
    """Per layer and overall: nodes, dead nodes and the dead fraction (the fraction surgery will remove)."""
    dead = dead_nodes(model)
    out = {layer: {"nodes": int(d.numel()), "dead": int(d.sum()), "fraction_dead": float(d.float().mean())}
           for layer, d in dead.items()}
    n = sum(v["nodes"] for v in out.values())
    k = sum(v["dead"] for v in out.values())
    out["all hidden"] = {"nodes": n, "dead": k, "fraction_dead": k / max(n, 1)}
    return out
