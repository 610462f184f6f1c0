"""Per-layer surgery rules: how a layer drops output units, how it drops input units that carried constants, and how
a per-channel normalisation drops channels and maps a dead channel's constant through itself.

Rules are looked up by type along the layer's method resolution order (:func:`rule_for`), so a subclass of
``nn.Conv2d`` gets the ``Conv2d`` rules unless a more specific rule is registered for it (as
:class:`~pruninglib.models.layers.FoldableConv2d` has). A rule builds the smaller layer with the constructor of
the layer's own type and the base class's signature, and never mutates the layer it is given.
"""
from __future__ import annotations

from typing import Callable, TypeVar

import torch
from torch import nn

from pruninglib.models.layers import FlattenLinear, FoldableConv2d, is_padded

ShrinkOut = Callable[[nn.Module, torch.Tensor], tuple[nn.Module, torch.Tensor]]
ShrinkIn = Callable[[nn.Module, torch.Tensor, torch.Tensor], nn.Module]
ShrinkNorm = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[nn.Module, torch.Tensor]]
Rule = TypeVar("Rule")


class InexactShrinkError(ValueError):
    """Removing the dead nodes would change the network's function (the message says where and why)."""


class UnsupportedLayerError(TypeError):
    """Surgery has no rule for this layer type (the message names the layer, its type and the supported types)."""


def rule_for(rules: dict[type, Rule], module: nn.Module, name: str, role: str) -> Rule:
    """The rule registered for the most specific class of ``module`` (``isinstance`` semantics). Raises
    :class:`UnsupportedLayerError` naming ``name`` and the allowed types when none is."""
    for cls in type(module).__mro__:
        if cls in rules:
            return rules[cls]
    raise UnsupportedLayerError(f"{role} {name!r} is a {type(module).__name__}: surgery supports "
                                f"{', '.join(sorted(c.__name__ for c in rules))} (or subclasses) there")


def non_constant_units(layer: nn.Module) -> torch.Tensor:
    """Bool (out,): output units that are not constant even when all their weights are zero. A padded
    FoldableConv2d that absorbed constants adds a map that differs at the border, so such a unit must be kept."""
    out = torch.zeros(layer.weight.shape[0], dtype=torch.bool, device=layer.weight.device)
    if isinstance(layer, FoldableConv2d) and is_padded(layer):
        out = (layer.folded_kernel.detach().flatten(1) != 0).any(dim=1)
    return out


def _bias_or_zeros(layer: nn.Module, n: int) -> torch.Tensor:
    """A copy of ``layer``'s bias, or zeros of length ``n`` when it has none (the base for a folded constant)."""
    return layer.bias.detach().clone() if layer.bias is not None else layer.weight.new_zeros(n)


def _keep_outputs(layer: nn.Module, new: nn.Module, keep: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """Fill ``new`` (a smaller copy of ``layer``) with the kept output units; return it and the dropped units'
    pre-activation: their bias (0 without one), since a dropped unit has zero fan-in. Shared by every layer type
    whose weight is (out, in, ...)."""
    with torch.no_grad():
        new.weight.copy_(layer.weight[keep])
        if layer.bias is not None:
            new.bias.copy_(layer.bias[keep])
    return new, _bias_or_zeros(layer, keep.numel())[~keep]


def shrink_linear_out(layer: nn.Module, keep: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """New Linear keeping output units ``keep`` (bool, (out,)); also returns the pre-activation of dropped units."""
    new = type(layer)(layer.in_features, int(keep.sum()), bias=layer.bias is not None,
                      device=layer.weight.device, dtype=layer.weight.dtype)
    return _keep_outputs(layer, new, keep)


def shrink_linear_in(layer: nn.Module, keep: torch.Tensor, constant: torch.Tensor) -> nn.Module:
    """New Linear keeping input units ``keep``; dropped inputs carried ``constant`` ((dropped,)), folded into bias."""
    new = type(layer)(int(keep.sum()), layer.out_features, bias=True, device=layer.weight.device,
                      dtype=layer.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(layer.weight[:, keep])
        new.bias.copy_(_bias_or_zeros(layer, layer.out_features) + layer.weight[:, ~keep] @ constant)
    return new


def shrink_flatten_linear_out(layer: nn.Module, keep: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """New FlattenLinear keeping output units ``keep``; also returns the dropped units' pre-activation (bias)."""
    new = type(layer)(layer.in_features, int(keep.sum()), bias=layer.bias is not None, group=layer.group,
                      device=layer.weight.device, dtype=layer.weight.dtype)
    return _keep_outputs(layer, new, keep)


def shrink_flatten_linear_in(layer: nn.Module, keep: torch.Tensor, constant: torch.Tensor) -> nn.Module:
    """New FlattenLinear keeping input channels ``keep`` ((channels,)); each channel owns ``layer.group``
    consecutive columns, and a dropped channel's constant reaches all of them, so it folds into the bias."""
    cols = keep.repeat_interleave(layer.group)
    new = type(layer)(int(cols.sum()), layer.out_features, bias=True, group=layer.group,
                      device=layer.weight.device, dtype=layer.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(layer.weight[:, cols])
        new.bias.copy_(_bias_or_zeros(layer, layer.out_features)
                       + layer.weight[:, ~cols] @ constant.repeat_interleave(layer.group))
    return new


def _conv_like(layer: nn.Conv2d, in_channels: int, out_channels: int, bias: bool) -> nn.Conv2d:
    """An empty conv of ``layer``'s own type and geometry with new widths."""
    if layer.groups != 1:
        raise UnsupportedLayerError(f"a {type(layer).__name__} with groups = {layer.groups} is not supported by "
                                    f"surgery: groups = 1 only")
    return type(layer)(in_channels, out_channels, layer.kernel_size, stride=layer.stride, padding=layer.padding,
                       dilation=layer.dilation, bias=bias, padding_mode=layer.padding_mode,
                       device=layer.weight.device, dtype=layer.weight.dtype)


def shrink_conv2d_out(layer: nn.Module, keep: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """New Conv2d keeping output channels (filters) ``keep``; also returns the dropped channels' pre-activation.

    A dropped filter is all zero, so its output map is the constant bias (0 without bias) at every position.
    """
    return _keep_outputs(layer, _conv_like(layer, layer.in_channels, int(keep.sum()), layer.bias is not None), keep)


def shrink_foldable_conv2d_out(layer: nn.Module, keep: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """New FoldableConv2d keeping filters ``keep`` and their rows of ``folded_kernel``; returns the dropped filters'
    pre-activation: bias plus their folded constant, seen under every tap (a dropped filter with a non-zero folded
    kernel behind zero padding is not constant: :class:`InexactShrinkError`)."""
    varying = non_constant_units(layer) & ~keep
    if bool(varying.any()):
        raise InexactShrinkError(f"filters {varying.nonzero().flatten().tolist()[:4]} of a padded "
                                 f"{type(layer).__name__} carry folded constants that differ at the border: they "
                                 f"are not constant, so they cannot be removed")
    new, value = _keep_outputs(layer, _conv_like(layer, layer.in_channels, int(keep.sum()), layer.bias is not None),
                               keep)
    new.fold_constants(layer.folded_kernel[keep], layer.folded_kernel.new_ones(1))
    return new, value + layer.folded_kernel.detach()[~keep].sum(dim=(1, 2, 3))


def shrink_conv2d_in(layer: nn.Module, keep: torch.Tensor, constant: torch.Tensor) -> nn.Module:
    """New Conv2d keeping input channels ``keep``; the dropped ones carried constant maps ``constant`` ((dropped,)).

    Folding: out[o] gains sum_c constant[c] * sum_{kh,kw} W[o, c, kh, kw], the same at every output position only
    if no kernel tap falls on padding (``padding`` 0). Worked example: a 3x3 kernel of ones on a constant map 2
    gives 9 taps * 2 = 18 inside, but 6 taps * 2 = 12 on a zero-padded edge and 4 taps * 2 = 8 at a corner. So a
    padded conv with a non-zero constant raises :class:`InexactShrinkError`; a zero constant (e.g. relu of a
    negative) is exact.
    """
    if is_padded(layer) and bool((constant != 0).any()):
        raise InexactShrinkError(
            f"the consumer is a {type(layer).__name__} with padding {layer.padding}: dead input channels carry "
            f"non-zero constants {constant[constant != 0].tolist()[:4]}, whose contribution differs at the "
            f"zero-padded border, so folding it into the bias would change the outputs; use valid (unpadded) "
            f"convolutions or FoldableConv2d")
    # a bias is added only when there is something to fold into it (so the spec changes only when it must)
    new = _conv_like(layer, int(keep.sum()), layer.out_channels, bias=layer.bias is not None or bool((~keep).any()))
    with torch.no_grad():
        new.weight.copy_(layer.weight[:, keep])
        if new.bias is not None:
            new.bias.copy_(_bias_or_zeros(layer, layer.out_channels)
                           + layer.weight[:, ~keep].sum(dim=(2, 3)) @ constant)
    return new


def shrink_foldable_conv2d_in(layer: nn.Module, keep: torch.Tensor, constant: torch.Tensor) -> nn.Module:
    """New FoldableConv2d keeping input channels ``keep``; the dropped ones' constant maps ``constant``
    ((dropped,)) are folded into its ``folded_kernel``, exact at the zero-padded border too."""
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
    if not norm.track_running_stats or norm.running_mean is None:
        raise UnsupportedLayerError(f"a {type(norm).__name__} without running statistics is not supported by "
                                    f"surgery: track_running_stats=True only")
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


OUT_RULES: dict[type, ShrinkOut] = {nn.Linear: shrink_linear_out, FlattenLinear: shrink_flatten_linear_out,
                                    nn.Conv2d: shrink_conv2d_out, FoldableConv2d: shrink_foldable_conv2d_out}
IN_RULES: dict[type, ShrinkIn] = {nn.Linear: shrink_linear_in, FlattenLinear: shrink_flatten_linear_in,
                                  nn.Conv2d: shrink_conv2d_in, FoldableConv2d: shrink_foldable_conv2d_in}
NORM_RULES: dict[type, ShrinkNorm] = {nn.modules.batchnorm._BatchNorm: shrink_batchnorm}
