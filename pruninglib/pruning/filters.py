"""Filter-level baselines: L1-norm filter pruning (Li et al. 2017) and network slimming (Liu et al. 2017).

Compute, then apply: :func:`prune_filters_l1` and :func:`prune_bn_scale` are pure and return the filters to remove
(per coupling label, a bool tensor, True = remove); :func:`remove_filters_` is the one function that mutates a
model. Removing a filter here means zeroing it (and, for slimming, its BatchNorm scale), so that its channel carries
a constant and :func:`~pruninglib.surgery.shrink` then removes it exactly. Worked example for slimming: a channel
with BatchNorm scale gamma = 0 outputs ``relu(beta)`` whatever its input, so zeroing its filter as well changes
nothing, and the channel is dead in the sense of the glossary.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from pruninglib.models.base import Prunable
from pruninglib.pruning.mask import Mask

Dead = dict[str, torch.Tensor]


def filter_l1_norms(model: nn.Module) -> dict[str, torch.Tensor]:
    """Per coupling label, the L1 norm sum |W| of each filter of the producer, shape (filters,)."""
    assert isinstance(model, Prunable)
    return {c.layer: model.get_submodule(c.producer).weight.detach().abs().flatten(1).sum(1)
            for c in model.couplings()}


def bn_scales(model: nn.Module) -> dict[str, torch.Tensor]:
    """Per coupling label with a norm, |gamma| of each channel's BatchNorm, shape (channels,)."""
    assert isinstance(model, Prunable)
    return {c.layer: model.get_submodule(c.norm).weight.detach().abs() for c in model.couplings() if c.norm}


def _check_counts(scores: Mapping[str, torch.Tensor], counts: Mapping[str, int]) -> None:
    for layer, k in counts.items():
        if layer not in scores:
            raise KeyError(f"layer {layer!r} is not allowed: one of {', '.join(scores)}")
        if not isinstance(k, int) or not 0 <= k < scores[layer].numel():
            raise ValueError(f"remove {k!r} filters of {layer!r} is not allowed: from 0 to "
                             f"{scores[layer].numel() - 1} (a layer keeps at least one)")


def smallest_per_layer(scores: Mapping[str, torch.Tensor], counts: Mapping[str, int]) -> Dead:
    """Per layer, True for the ``counts[layer]`` smallest scores (layers not in ``counts`` lose nothing). Pure."""
    _check_counts(scores, counts)
    out = {}
    for layer, s in scores.items():
        dead = torch.zeros(s.numel(), dtype=torch.bool, device=s.device)
        dead[torch.topk(s, counts.get(layer, 0), largest=False).indices] = True
        out[layer] = dead
    return out


def smallest_global(scores: Mapping[str, torch.Tensor], total: int) -> Dead:
    """True for the ``total`` smallest scores over all layers together (one global threshold), each layer
    keeping at least its largest score. Pure."""
    n = sum(s.numel() for s in scores.values())
    if not isinstance(total, int) or not 0 <= total <= n - len(scores):
        raise ValueError(f"remove {total!r} filters in total is not allowed: from 0 to {n - len(scores)} "
                         f"(each of the {len(scores)} layers keeps at least one)")
    # each layer's largest score is protected by giving it +inf, so the global cut never empties a layer
    guarded = {k: s.clone().index_fill_(0, s.argmax().view(1), float("inf")) for k, s in scores.items()}
    flat = torch.cat([s.flatten() for s in guarded.values()])
    cut = torch.zeros(n, dtype=torch.bool, device=flat.device)
    cut[torch.topk(flat, total, largest=False).indices] = True
    return dict(zip(scores, cut.split([s.numel() for s in scores.values()])))


def prune_filters_l1(model: nn.Module, counts: Mapping[str, int]) -> Dead:
    """Li et al. (2017): remove, in each layer, the ``counts[layer]`` filters with the smallest L1 norm."""
    return smallest_per_layer(filter_l1_norms(model), counts)


def prune_bn_scale(model: nn.Module, total: int) -> Dead:
    """Liu et al. (2017), network slimming: remove the ``total`` channels with the smallest |gamma| over the whole
    network (one global threshold)."""
    return smallest_global(bn_scales(model), total)


@torch.no_grad()
def remove_filters_(model: nn.Module, dead: Mapping[str, torch.Tensor], *, zero_bn_scale: bool = False) -> Mask:
    """MUTATES ``model``: zero every filter marked in ``dead`` (and its BatchNorm scale gamma when
    ``zero_bn_scale``). Returns the Mask over ``model.prunable()`` that keeps those filters zero (for
    :class:`~pruninglib.training.KeepMask` during fine-tuning)."""
    assert isinstance(model, Prunable)
    weights = model.prunable()
    masks = {k: torch.ones_like(w, dtype=torch.bool) for k, w in weights.items()}
    for c in model.couplings():
        d = dead.get(c.layer)
        if d is None or not bool(d.any()):
            continue
        name = f"{c.producer}.weight"
        if name not in masks:
            raise KeyError(f"{name} is not a prunable weight of {type(model).__name__}")
        masks[name][d.to(masks[name].device)] = False
        if zero_bn_scale and c.norm is not None:
            model.get_submodule(c.norm).weight[d] = 0.0
    mask = Mask(masks)
    mask.apply_(model)
    return mask
