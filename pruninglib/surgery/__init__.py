"""Physical removal of dead nodes: ``shrink(model)`` returns a smaller model with the same outputs.

Each layer type knows how to drop its output units and its input units (:data:`SHRINK_OUT`, :data:`SHRINK_IN`),
and each per-channel normalisation how to drop channels and carry a dead channel's constant through itself
(:data:`SHRINK_NORM`); which layers are coupled comes from the model's :meth:`couplings` (data, not special
cases). A dead node carries the constant ``activation(norm(bias))``; dropping it from a consumer folds the
consumer's weights on it times that constant into the consumer's bias, so outputs stay equal (up to float
rounding, in eval mode).

That bias fold is exact only when every output of the consumer sees the constant under all of its weights: a
Linear (after global pooling), or a convolution WITHOUT zero padding. A zero-padded convolution sees fewer taps at
the border, so its border outputs would change: a plain padded ``Conv2d`` is refused with
:class:`InexactShrinkError` unless every dropped constant is exactly zero. Models with padded convolutions use
:class:`~pruninglib.models.layers.FoldableConv2d`, which absorbs the constants exactly, border included.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from pruninglib.models.base import Prunable
from pruninglib.models.layers import FlattenLinear, FoldableConv2d
from pruninglib.pruning.nodes import dead_nodes
from pruninglib.registry import Registry

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"relu": torch.relu, "identity": lambda x: x}
ShrinkOut = Callable[[nn.Module, torch.Tensor], tuple[nn.Module, torch.Tensor]]
ShrinkIn = Callable[[nn.Module, torch.Tensor, torch.Tensor], nn.Module]
ShrinkNorm = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[nn.Module, torch.Tensor]]
SHRINK_OUT: Registry[ShrinkOut] = Registry("layer type for output shrinking")
SHRINK_IN: Registry[ShrinkIn] = Registry("layer type for input shrinking")
SHRINK_NORM: Registry[ShrinkNorm] = Registry("normalisation type for channel shrinking")
# Layer types that cannot have zero outputs (PyTorch refuses a Conv2d with 0 filters): if every node of such a
# producer is dead, surgery keeps this many of them (keeping a dead node is always exact).
MIN_WIDTH: dict[str, int] = {"Conv2d": 1, "FoldableConv2d": 1}


class InexactShrinkError(ValueError):
    """Removing the dead nodes would change the network's function (the message says where and why)."""


def _dropped_bias(layer: nn.Module, keep: torch.Tensor) -> torch.Tensor:
    """Pre-activation of the dropped units of a layer whose dropped units have zero fan-in: their bias (or 0)."""
    if layer.bias is not None:
        return layer.bias[~keep].detach().clone()
    return layer.weight.new_zeros(int((~keep).sum()))


def _keep_outputs(layer: nn.Module, new: nn.Module, keep: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """Fill ``new`` (a smaller copy of ``layer``) with the kept output units; return it and the dropped units'
    pre-activation. Shared by every layer type whose weight is (out, in, ...)."""
    with torch.no_grad():
        new.weight.copy_(layer.weight[keep])
        if layer.bias is not None:
            new.bias.copy_(layer.bias[keep])
    return new, _dropped_bias(layer, keep)


def _bias_or_zeros(layer: nn.Module, n: int) -> torch.Tensor:
    """A copy of ``layer``'s bias, or zeros of length ``n`` when it has none (the base for a folded constant)."""
    return layer.bias.detach().clone() if layer.bias is not None else layer.weight.new_zeros(n)


@SHRINK_OUT.register("Linear")
def shrink_linear_out(layer: nn.Module, keep: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """New Linear keeping output units ``keep`` (bool, (out,)); also returns the pre-activation of dropped units.

    A dropped unit has zero fan-in, so its pre-activation is its bias (0 without bias).
    """
    assert isinstance(layer, nn.Linear)
    new = nn.Linear(layer.in_features, int(keep.sum()), bias=layer.bias is not None,
                    device=layer.weight.device, dtype=layer.weight.dtype)
    return _keep_outputs(layer, new, keep)


@SHRINK_IN.register("Linear")
def shrink_linear_in(layer: nn.Module, keep: torch.Tensor, constant: torch.Tensor) -> nn.Module:
    """New Linear keeping input units ``keep``; dropped inputs carried ``constant`` ((dropped,)), folded into bias."""
    assert isinstance(layer, nn.Linear)
    new = nn.Linear(int(keep.sum()), layer.out_features, bias=True, device=layer.weight.device,
                    dtype=layer.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(layer.weight[:, keep])
        new.bias.copy_(_bias_or_zeros(layer, layer.out_features) + layer.weight[:, ~keep] @ constant)
    return new


@SHRINK_IN.register("FlattenLinear")
def shrink_flatten_linear_in(layer: nn.Module, keep: torch.Tensor, constant: torch.Tensor) -> nn.Module:
    """New FlattenLinear keeping input channels ``keep`` ((channels,)); each channel owns ``layer.group``
    consecutive columns, and a dropped channel's constant reaches all of them, so it folds into the bias."""
    assert isinstance(layer, FlattenLinear)
    cols = keep.repeat_interleave(layer.group)
    new = FlattenLinear(int(cols.sum()), layer.out_features, bias=True, group=layer.group,
                        device=layer.weight.device, dtype=layer.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(layer.weight[:, cols])
        new.bias.copy_(_bias_or_zeros(layer, layer.out_features)
                       + layer.weight[:, ~cols] @ constant.repeat_interleave(layer.group))
    return new


@SHRINK_OUT.register("FlattenLinear")
def shrink_flatten_linear_out(layer: nn.Module, keep: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """New FlattenLinear keeping output units ``keep``; also returns the dropped units' pre-activation (bias)."""
    assert isinstance(layer, FlattenLinear)
    new = FlattenLinear(layer.in_features, int(keep.sum()), bias=layer.bias is not None, group=layer.group,
                        device=layer.weight.device, dtype=layer.weight.dtype)
    return _keep_outputs(layer, new, keep)


def _conv_like(layer: nn.Conv2d, in_channels: int, out_channels: int, bias: bool) -> nn.Conv2d:
    """An empty conv of ``layer``'s own type and geometry with new widths."""
    if layer.groups != 1:
        raise ValueError(f"Conv2d with groups = {layer.groups} is not supported by surgery: groups = 1 only")
    return type(layer)(in_channels, out_channels, layer.kernel_size, stride=layer.stride, padding=layer.padding,
                       dilation=layer.dilation, bias=bias, padding_mode=layer.padding_mode,
                       device=layer.weight.device, dtype=layer.weight.dtype)


@SHRINK_OUT.register("Conv2d")
@SHRINK_OUT.register("FoldableConv2d")
def shrink_conv2d_out(layer: nn.Module, keep: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """New Conv2d keeping output channels (filters) ``keep``; also returns the dropped channels' pre-activation.

    A dropped filter is all zero, so its output map is the constant bias (0 without bias) at every position.
    """
    assert isinstance(layer, nn.Conv2d)
    new = _conv_like(layer, layer.in_channels, int(keep.sum()), layer.bias is not None)
    if isinstance(layer, FoldableConv2d):
        new.fold_constants(layer.folded_kernel[keep], layer.folded_kernel.new_ones(1))
    return _keep_outputs(layer, new, keep)


@SHRINK_IN.register("Conv2d")
def shrink_conv2d_in(layer: nn.Module, keep: torch.Tensor, constant: torch.Tensor) -> nn.Module:
    """New Conv2d keeping input channels ``keep``; the dropped ones carried constant maps ``constant`` ((dropped,)).

    Folding: out[o] gains sum_c constant[c] * sum_{kh,kw} W[o, c, kh, kw], the same at every output position only
    if no kernel tap falls on padding (``padding`` 0). Worked example: a 3x3 kernel of ones on a constant map 2
    gives 9 taps * 2 = 18 inside, but 6 taps * 2 = 12 on a zero-padded edge and 4 taps * 2 = 8 at a corner. So a padded conv with a
    non-zero constant raises :class:`InexactShrinkError`; a zero constant (e.g. relu of a negative) is exact.
    """
    assert isinstance(layer, nn.Conv2d)
    padded = any(p != 0 for p in layer.padding) if isinstance(layer.padding, tuple) else layer.padding != "valid"
    if padded and bool((constant != 0).any()):
        raise InexactShrinkError(
            f"the consumer is a Conv2d with padding {layer.padding}: dead input channels carry non-zero constants "
            f"{constant[constant != 0].tolist()[:4]}, whose contribution differs at the zero-padded border, so "
            f"folding it into the bias would change the outputs; use valid (unpadded) convolutions")
    # a bias is added only when there is something to fold into it (so the spec changes only when it must)
    new = _conv_like(layer, int(keep.sum()), layer.out_channels, bias=layer.bias is not None or bool((~keep).any()))
    with torch.no_grad():
        new.weight.copy_(layer.weight[:, keep])
        if new.bias is not None:
            new.bias.copy_(_bias_or_zeros(layer, layer.out_channels)
                           + layer.weight[:, ~keep].sum(dim=(2, 3)) @ constant)
    return new


@SHRINK_IN.register("FoldableConv2d")
def shrink_foldable_conv2d_in(layer: nn.Module, keep: torch.Tensor, constant: torch.Tensor) -> nn.Module:
    """New FoldableConv2d keeping input channels ``keep``; the dropped ones' constant maps ``constant``
    ((dropped,)) are folded into its ``folded_kernel``, exact at the zero-padded border too."""
    assert isinstance(layer, FoldableConv2d)
    new = _conv_like(layer, int(keep.sum()), layer.out_channels, bias=layer.bias is not None)
    with torch.no_grad():
        new.weight.copy_(layer.weight[:, keep])
        if layer.bias is not None:
            new.bias.copy_(layer.bias)
        new.fold_constants(layer.folded_kernel, layer.folded_kernel.new_ones(1))
        new.fold_constants(layer.weight[:, ~keep], constant)
    return new


def shrink_batchnorm(norm: nn.Module, keep: torch.Tensor, dropped: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """New BatchNorm keeping channels ``keep``; maps the dropped channels' constant inputs ``dropped`` through the
    eval-mode affine map ``(x - running_mean) / sqrt(running_var + eps) * weight + bias``, returning the result."""
    assert isinstance(norm, nn.modules.batchnorm._BatchNorm)
    if not norm.track_running_stats or norm.running_mean is None:
        raise ValueError(f"{type(norm).__name__} without running statistics is not supported by surgery")
    new = type(norm)(int(keep.sum()), eps=norm.eps, momentum=norm.momentum, affine=norm.affine,
                     track_running_stats=True, device=norm.running_mean.device, dtype=norm.running_mean.dtype)
    with torch.no_grad():
        for name in ("running_mean", "running_var"):
            getattr(new, name).copy_(getattr(norm, name)[keep])
        new.num_batches_tracked.copy_(norm.num_batches_tracked)
        out = (dropped - norm.running_mean[~keep]) / torch.sqrt(norm.running_var[~keep] + norm.eps)
        if norm.affine:
            new.weight.copy_(norm.weight[keep])
            new.bias.copy_(norm.bias[keep])
            out = out * norm.weight[~keep] + norm.bias[~keep]
    return new, out.detach()


for _name in ("BatchNorm1d", "BatchNorm2d"):
    SHRINK_NORM.register(_name)(shrink_batchnorm)


def _input_units(consumer: nn.Module) -> int:
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
    the consumer's CURRENT inputs and records the removal.
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


def shrink(model: nn.Module, dead: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """Return a NEW model without the dead nodes (``model`` is not mutated). Exact in eval mode.

    ``dead`` maps each coupling's layer label to a bool tensor (True = remove); by default the nodes whose fan-in
    is all zero (:func:`~pruninglib.pruning.dead_nodes`). Removing a node with non-zero fan-in changes the
    function, so ``dead`` other than the default is the caller's responsibility. Couplings are processed in the
    model's order, so a layer that is the consumer of one coupling and the producer of the next is first given
    its folded bias, then loses its dead outputs. A consumer fed by a concatenation (``Coupling.offsets``) loses
    each producer's dropped channels at that producer's slice, shifted by what earlier slices lost
    (:class:`InputLayout`). Raises :class:`InexactShrinkError` naming the coupling and the
    consumer when a fold cannot be exact.
    """
    assert isinstance(model, Prunable), f"{type(model).__name__} declares no couplings"
    dead = dead_nodes(model) if dead is None else dead
    new = copy.deepcopy(model)
    layout = InputLayout()
    for c in new.couplings():
        keep = ~dead[c.layer].to(torch.bool)
        producer = new.get_submodule(c.producer)
        short = MIN_WIDTH.get(type(producer).__name__, 0) - int(keep.sum())
        if short > 0:
            keep = keep.clone()
            keep[(~keep).nonzero().flatten()[:short]] = True
        shrunk, value = SHRINK_OUT.get(type(producer).__name__)(producer, keep.to(producer.weight.device))
        new.set_submodule(c.producer, shrunk)
        if c.norm is not None:
            norm = new.get_submodule(c.norm)
            shrunk_norm, value = SHRINK_NORM.get(type(norm).__name__)(norm, keep.to(value.device), value)
            new.set_submodule(c.norm, shrunk_norm)
        constant = ACTIVATIONS[c.activation](value)
        for k, name in enumerate(c.consumers):
            consumer = new.get_submodule(name)
            n_in = _input_units(consumer)
            keep_in = layout.keep_inputs(name, n_in, c.offsets[k] if c.offsets else None, keep.to(constant.device))
            try:
                new.set_submodule(name, SHRINK_IN.get(type(consumer).__name__)(consumer, keep_in, constant))
            except InexactShrinkError as exc:
                raise InexactShrinkError(f"coupling {c.layer!r}, consumer {name!r}: {exc}") from exc
    return new
