"""A Mask: one boolean tensor per prunable parameter, keyed by parameter name (so it can be saved).

``True`` keeps a weight, ``False`` holds it at zero. Computing a mask (``prune_*`` functions) is separate from
applying it: :meth:`Mask.apply_` is the one function that writes masked zeros into a model.
"""
from __future__ import annotations

from typing import Iterator, Mapping

import torch
from torch import nn


class Mask(Mapping[str, torch.Tensor]):
    """Immutable mapping parameter name -> bool tensor. Validates dtype on creation."""

    def __init__(self, masks: Mapping[str, torch.Tensor]) -> None:
        for name, m in masks.items():
            if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
                raise TypeError(f"mask for {name!r} must be a bool tensor, got {getattr(m, 'dtype', type(m))}")
        self._masks = dict(masks)
        # 1.0/0.0 copies for apply_, made on first use: multiplying by a float tensor is several times faster
        # than by a bool one, and gives the same bits (bool promotes to exactly 1.0 and 0.0). None: keeps all.
        self._factors: dict[tuple[str, torch.dtype, torch.device], torch.Tensor | None] = {}

    @classmethod
    def ones(cls, weights: Mapping[str, torch.Tensor]) -> "Mask":
        """Keep everything."""
        return cls({k: torch.ones_like(w, dtype=torch.bool) for k, w in weights.items()})

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._masks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    def __and__(self, other: "Mask") -> "Mask":
        if set(self) != set(other):
            raise KeyError(f"masks cover different parameters: {sorted(set(self) ^ set(other))}")
        return Mask({k: self[k] & other[k] for k in self})

    def check_matches(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Raise if names or shapes differ from ``weights``."""
        if set(self) != set(weights):
            raise KeyError(f"mask names {sorted(self)} differ from parameter names {sorted(weights)}")
        for k, w in weights.items():
            if self[k].shape != w.shape:
                raise ValueError(f"mask for {k!r} has shape {tuple(self[k].shape)}, parameter {tuple(w.shape)}")

    def sparsity(self) -> float:
        """Fraction of masked (zero) entries over all parameters."""
        total = sum(m.numel() for m in self._masks.values())
        kept = sum(int(m.sum()) for m in self._masks.values())
        return 1.0 - kept / max(total, 1)

    @torch.no_grad()
    def apply_(self, model: nn.Module) -> None:
        """MUTATES ``model``: multiplies each named parameter by its mask, so masked weights are exactly zero.

        (A masked negative weight becomes -0.0, as with any multiplication by zero.) A parameter whose mask keeps
        everything is not touched.
        """
        for k in self._masks:
            p = model.get_parameter(k)
            key = (k, p.dtype, p.device)
            if key not in self._factors:
                m = self._masks[k]
                self._factors[key] = None if bool(m.all()) else m.to(device=p.device, dtype=p.dtype)
            factor = self._factors[key]
            if factor is not None:
                p.mul_(factor)

    def to(self, device: torch.device | str) -> "Mask":
        return Mask({k: m.to(device) for k, m in self._masks.items()})

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: m.cpu() for k, m in self._masks.items()}
