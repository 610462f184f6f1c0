"""Magnitude pruning: zero the smallest |w|, per layer or globally (Han et al. 2015)."""
from __future__ import annotations

from typing import Mapping

import torch

from pruninglib.pruning.mask import Mask

SCOPES = ("layer", "global")


def _smallest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Flat indices of the k smallest scores; the same ``topk`` call as torch.nn.utils.prune.l1_unstructured."""
    return torch.topk(scores.reshape(-1), k=k, largest=False).indices


def prune_magnitude(weights: Mapping[str, torch.Tensor], sparsity: float | Mapping[str, float], *,
                    scope: str = "layer", mask: Mask | None = None) -> Mask:
    """Return a mask with ``round(sparsity * n)`` zeros (n per tensor for scope 'layer', in total for 'global').

    For scope 'layer', ``sparsity`` may also map each weight name to its own fraction. Already-masked weights
    (``mask``) are taken first, so pruning is monotone. Pure: nothing is mutated.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope = {scope!r} is not allowed: one of {SCOPES}")
    per_tensor = dict(sparsity) if isinstance(sparsity, Mapping) else {k: sparsity for k in weights}
    if isinstance(sparsity, Mapping) and (scope != "layer" or set(per_tensor) != set(weights)):
        raise ValueError(f"sparsity = {sparsity!r} is not allowed: a mapping needs scope 'layer' and one fraction "
                         f"per weight ({', '.join(weights)})")
    for s in per_tensor.values():
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 <= s <= 1.0:
            raise ValueError(f"sparsity = {sparsity!r} is not allowed: a fraction in [0, 1]")
    mask = mask if mask is not None else Mask.ones(weights)
    mask.check_matches(weights)
    # Masked weights get score -1 (< every |w|), so they are the first to be "pruned" again.
    scores = {k: torch.where(mask[k], w.detach().abs(), torch.full_like(w, -1.0)) for k, w in weights.items()}
    out: dict[str, torch.Tensor] = {}
    if scope == "layer":
        for k, s in scores.items():
            keep = torch.ones(s.numel(), dtype=torch.bool, device=s.device)
            keep[_smallest(s, round(per_tensor[k] * s.numel()))] = False
            out[k] = keep.view_as(s)
    else:
        flat = torch.cat([s.reshape(-1) for s in scores.values()])
        keep = torch.ones(flat.numel(), dtype=torch.bool, device=flat.device)
        keep[_smallest(flat, round(sparsity * flat.numel()))] = False
        for (k, s), part in zip(scores.items(), keep.split([s.numel() for s in scores.values()])):
            out[k] = part.view_as(s)
    return Mask(out)
