"""Physical removal of dead nodes: ``shrink(model)`` returns a smaller model with the same outputs.

Each layer type knows how to drop its output units and its input units (:data:`SHRINK_OUT`, :data:`SHRINK_IN`);
which layers are coupled comes from the model's :meth:`couplings` (data, not special cases). A dead node carries
the constant ``activation(bias)``; dropping it from a consumer folds ``W[:, dead] @ constant`` into the
consumer's bias, so outputs stay equal (not just approximately: up to float rounding).
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from pruninglib.models.base import Prunable
from pruninglib.pruning.nodes import dead_nodes
from pruninglib.registry import Registry

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"relu": torch.relu, "identity": lambda x: x}
ShrinkOut = Callable[[nn.Module, torch.Tensor], tuple[nn.Module, torch.Tensor]]
ShrinkIn = Callable[[nn.Module, torch.Tensor, torch.Tensor], nn.Module]
SHRINK_OUT: Registry[ShrinkOut] = Registry("layer type for output shrinking")
SHRINK_IN: Registry[ShrinkIn] = Registry("layer type for input shrinking")


@SHRINK_OUT.register("Linear")
def shrink_linear_out(layer: nn.Module, keep: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """New Linear keeping output units ``keep`` (bool, (out,)); also returns the pre-activation of dropped units.

    A dropped unit has zero fan-in, so its pre-activation is its bias (0 without bias).
    """
    assert isinstance(layer, nn.Linear)
    new = nn.Linear(layer.in_features, int(keep.sum()), bias=layer.bias is not None,
                    device=layer.weight.device, dtype=layer.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(layer.weight[keep])
        if layer.bias is not None:
            new.bias.copy_(layer.bias[keep])
    dropped = layer.bias[~keep].detach() if layer.bias is not None else layer.weight.new_zeros(int((~keep).sum()))
    return new, dropped


@SHRINK_IN.register("Linear")
def shrink_linear_in(layer: nn.Module, keep: torch.Tensor, constant: torch.Tensor) -> nn.Module:
    """New Linear keeping input units ``keep``; dropped inputs carried ``constant`` ((dropped,)), folded into bias."""
    assert isinstance(layer, nn.Linear)
    new = nn.Linear(int(keep.sum()), layer.out_features, bias=True, device=layer.weight.device,
                    dtype=layer.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(layer.weight[:, keep])
        bias = layer.bias.detach().clone() if layer.bias is not None else layer.weight.new_zeros(layer.out_features)
        new.bias.copy_(bias + layer.weight[:, ~keep] @ constant)
    return new


def shrink(model: nn.Module, dead: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """Return a NEW model without the dead nodes (``model`` is not mutated).

    ``dead`` maps each coupling's layer label to a bool tensor (True = remove); by default the nodes whose fan-in
    is all zero (:func:`~pruninglib.pruning.dead_nodes`). Removing a node with non-zero fan-in changes the
    function, so ``dead`` other than the default is the caller's responsibility.
    """
    assert isinstance(model, Prunable), f"{type(model).__name__} declares no couplings"
    dead = dead_nodes(model) if dead is None else dead
    new = copy.deepcopy(model)
    for c in new.couplings():
        keep = ~dead[c.layer].to(torch.bool)
        producer = new.get_submodule(c.producer)
        shrunk, pre_activation = SHRINK_OUT.get(type(producer).__name__)(producer, keep.to(producer.weight.device))
        constant = ACTIVATIONS[c.activation](pre_activation)
        new.set_submodule(c.producer, shrunk)
        for name in c.consumers:
            consumer = new.get_submodule(name)
            new.set_submodule(name, SHRINK_IN.get(type(consumer).__name__)(consumer, keep.to(constant.device),
                                                                             constant))
    return new
