"""A training split with class balancing and random augmentation, for the frozen ``fit`` loop.

``fit`` only calls ``len(train)`` and ``train.batches(batch_size, generator)``, so augmentation needs no change to
the loop: :class:`AugmentedSplit` draws a class-balanced epoch and perturbs each batch, using only ``generator``
(which ``fit`` checkpoints, so resumed runs see the same batches).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from pruninglib.data.tensors import Split


@dataclass
class AugmentedSplit(Split):
    """Inputs (N, C, H, W). One epoch draws every class as often as the largest one (``balance``; the smaller
    classes are resampled with replacement), then each image is shifted by up to ``max_shift`` pixels (edge
    padding) and its intensity scaled by 1 +- ``intensity`` and offset by +- ``intensity``. No flips: a mirrored
    chest X-ray puts the heart on the wrong side."""

    max_shift: int = 0
    intensity: float = 0.0
    balance: bool = True

    def _epoch_indices(self, generator: torch.Generator) -> torch.Tensor:
        y = self.y.cpu()
        if not self.balance:
            return torch.randperm(len(y), generator=generator)
        classes = torch.unique(y)
        n = max(int((y == c).sum()) for c in classes)
        parts = []
        for c in classes:
            idx = (y == c).nonzero().flatten()
            extra = idx[torch.randint(len(idx), (n - len(idx),), generator=generator)]
            parts.append(torch.cat([idx, extra]))
        order = torch.cat(parts)
        return order[torch.randperm(len(order), generator=generator)]

    def __len__(self) -> int:
        if not self.balance:
            return len(self.y)
        return int(torch.unique(self.y.cpu(), return_counts=True)[1].max()) * len(torch.unique(self.y.cpu()))

    def _augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        s = self.max_shift
        if s > 0:
            padded = F.pad(x, (s, s, s, s), mode="replicate")
            dy = torch.randint(0, 2 * s + 1, (n,), generator=generator).tolist()
            dx = torch.randint(0, 2 * s + 1, (n,), generator=generator).tolist()
            x = torch.stack([padded[i, :, a:a + h, b:b + w] for i, (a, b) in enumerate(zip(dy, dx))])
        if self.intensity > 0:
            scale = 1 + self.intensity * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)
            shift = self.intensity * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)
            x = x * scale.to(x.device) + shift.to(x.device)
        return x

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor,
                                                                                                    torch.Tensor]]:
        """Balanced, shuffled, augmented batches with ``generator``; without one, the plain images in order."""
        if generator is None:
            yield from Split(self.x, self.y).batches(batch_size)
            return
        order = self._epoch_indices(generator).to(self.x.device)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            yield self._augment(self.x[idx], generator), self.y[idx]
