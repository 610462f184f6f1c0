"""Couplings during surgery: which of a producer's units to keep, and where they sit in each consumer's input."""
from __future__ import annotations

import torch
from torch import nn

from pruninglib.surgery.rules import non_constant_units


def units_to_keep(producer: nn.Module, dead: torch.Tensor) -> torch.Tensor:
    """Bool (units,): the producer's units to keep, given ``dead`` (True = remove). Kept even when dead:

    - a unit that is not constant (:func:`~pruninglib.surgery.rules.non_constant_units`: a padded FoldableConv2d
      filter that absorbed constants in an earlier shrink), since only a constant can be folded into consumers;
    - the first dead unit when every unit is dead: no layer is left with width 0 (PyTorch refuses a Conv2d with 0
      filters, and a model spec with a width of 0 cannot be rebuilt). Keeping a dead unit is always exact.
    """
    keep = ~dead.to(device=producer.weight.device, dtype=torch.bool) | non_constant_units(producer)
    if not bool(keep.any()):
        keep = keep.clone()
        keep[0] = True
    return keep


def input_units(consumer: nn.Module) -> int:
    """How many input units (channels) a consumer has: a FlattenLinear's ``group`` columns are one unit."""
    if isinstance(consumer, nn.Linear):
        return consumer.in_features // getattr(consumer, "group", 1)
    return consumer.in_channels


class InputLayout:
    """Where each producer's channels sit in each consumer's input while surgery removes them.

    :attr:`Coupling.offsets` are counted in the model as declared. When the slice at offset 0 of a concatenation
    loses ``r`` channels, every later slice of that consumer moves ``r`` channels left. Worked example: a decoder
    conv reads ``cat([skip (4 ch), up (4 ch)])``; removing skip channels 1 and 2 leaves 6 inputs, and the up part
    (declared offset 4) now starts at 4 - 2 = 2. :meth:`keep_inputs` turns a producer's keep vector into one over
    the consumer's CURRENT inputs and records the removal (it mutates this layout).
    """

    def __init__(self) -> None:
        self.removed: dict[str, list[tuple[int, int]]] = {}  # consumer -> [(declared offset, channels removed)]

    def keep_inputs(self, consumer: str, in_channels: int, offset: int | None, keep: torch.Tensor) -> torch.Tensor:
        """Bool (in_channels,) keeping everything but the producer's dropped channels. ``offset`` None: the
        consumer's inputs are the producer's outputs (their counts must agree)."""
        if offset is None:
            if in_channels != keep.numel():
                raise ValueError(f"consumer {consumer!r} has {in_channels} inputs, its producer {keep.numel()} "
                                 f"outputs; a consumer fed by a concatenation needs Coupling.offsets")
            return keep
        start = offset - sum(r for o, r in self.removed.get(consumer, []) if o < offset)
        if start < 0 or start + keep.numel() > in_channels:
            raise ValueError(f"consumer {consumer!r}: a slice of {keep.numel()} channels at declared offset {offset} "
                             f"(now {start}) does not fit its {in_channels} inputs")
        full = torch.ones(in_channels, dtype=torch.bool, device=keep.device)
        full[start:start + keep.numel()] = keep
        self.removed.setdefault(consumer, []).append((offset, int((~keep).sum())))
        return full
