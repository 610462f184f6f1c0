"""The entry point: ``shrink(model)`` walks the model's couplings and applies the layer rules."""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from pruninglib.models.base import NotPrunableError, Prunable
from pruninglib.pruning.nodes import dead_nodes
from pruninglib.surgery.layout import InputLayout, input_units, units_to_keep
from pruninglib.surgery.rules import IN_RULES, NORM_RULES, OUT_RULES, InexactShrinkError, rule_for

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"relu": torch.relu, "identity": lambda x: x}


def shrink(model: nn.Module, dead: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """Return a NEW model without the dead nodes (``model`` is not mutated). Exact in eval mode.

    ``dead`` maps each coupling's layer label to a bool tensor (True = remove); by default the nodes whose fan-in
    is all zero (:func:`~pruninglib.pruning.dead_nodes`). Removing a node with non-zero fan-in changes the
    function, so ``dead`` other than the default is the caller's responsibility. Some dead nodes are kept
    (:func:`~pruninglib.surgery.layout.units_to_keep`): one per layer when all are dead, and those whose output is
    not constant. Couplings are processed in the model's order, so a layer that is the consumer of one coupling and
    the producer of the next is first given its folded constants, then loses its dead outputs. A consumer fed by a
    concatenation (``Coupling.offsets``) loses each producer's dropped channels at that producer's slice, shifted by
    what earlier slices lost (:class:`~pruninglib.surgery.layout.InputLayout`).

    Raises :class:`~pruninglib.models.base.NotPrunableError` for a model without ``spec``/``prunable``/
    ``couplings``, :class:`~pruninglib.surgery.rules.UnsupportedLayerError` for a layer type without a rule, and
    :class:`InexactShrinkError` naming the coupling and the consumer when a fold cannot be exact.
    """
    if not isinstance(model, Prunable):
        raise NotPrunableError(f"model = {type(model).__name__} is not shrinkable: it must offer spec(), prunable() "
                               f"and couplings() (pruninglib.models.base.Prunable)")
    dead = dead_nodes(model) if dead is None else dead
    for c in model.couplings():
        if c.layer not in dead:
            raise ValueError(f"dead has no entry for coupling {c.layer!r}: one bool tensor per coupling label "
                             f"({', '.join(repr(k.layer) for k in model.couplings())})")
        if c.activation not in ACTIVATIONS:
            raise ValueError(f"coupling {c.layer!r}: activation = {c.activation!r} is not allowed: one of "
                             f"{', '.join(map(repr, ACTIVATIONS))}")
    new = copy.deepcopy(model)
    layout = InputLayout()
    for c in new.couplings():
        producer = new.get_submodule(c.producer)
        keep = units_to_keep(producer, dead[c.layer])
        shrunk, value = rule_for(OUT_RULES, producer, c.producer, "producer")(producer, keep)
        new.set_submodule(c.producer, shrunk)
        if c.norm is not None:
            norm = new.get_submodule(c.norm)
            shrunk_norm, value = rule_for(NORM_RULES, norm, c.norm, "norm")(norm, keep.to(value.device), value)
            new.set_submodule(c.norm, shrunk_norm)
        constant = ACTIVATIONS[c.activation](value)
        for k, name in enumerate(c.consumers):
            consumer = new.get_submodule(name)
            keep_in = layout.keep_inputs(name, input_units(consumer), c.offsets[k] if c.offsets else None,
                                         keep.to(constant.device))
            try:
                new.set_submodule(name, rule_for(IN_RULES, consumer, name, "consumer")(consumer, keep_in, constant))
            except InexactShrinkError as exc:
                raise InexactShrinkError(f"coupling {c.layer!r}, consumer {name!r}: {exc}") from exc
    return new
