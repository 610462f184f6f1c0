"""A training split with class balancing and random augmentation, for the frozen ``fit`` loop.

``fit`` only calls ``len(train)`` and ``train.batches(batch_size, generator)``, so augmentation needs no change to
the loop: :class:`AugmentedSplit` draws a class-balanced epoch and perturbs each batch, using only ``generator``
(which ``fit`` checkpoints, so resumed runs see the same batches).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

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


def crop_flip(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor, pad: int) -> torch.Tensor:
    """Batched random crop with zero padding and horizontal flip, in one indexing operation on ``x``'s device.

    ``x`` (N, C, H, W); ``dy``, ``dx`` (N,) offsets in [0, 2*pad] into the padded image; ``flip`` (N,) bool.
    Example: pad 4, dy = dx = 4, no flip returns ``x`` unchanged; dx = 0 shifts the image 4 pixels right.
    """
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    ar_h, ar_w = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    rows = dy[:, None] + ar_h  # (N, H)
    cols = dx[:, None] + torch.where(flip[:, None], w - 1 - ar_w, ar_w)  # (N, W)
    return padded[torch.arange(n, device=x.device)[:, None, None, None],
                  torch.arange(c, device=x.device)[None, :, None, None], rows[:, None, :, None],
                  cols[:, None, None, :]]


@dataclass
class CropFlipSplit(Split):
    """Inputs (N, C, H, W). Each epoch shuffles the images, then every batch is randomly cropped from the image
    zero-padded by ``pad`` pixels and flipped left-right with probability 1/2 (the standard CIFAR augmentation),
    batched on the images' device. Randomness comes from ``generator`` only (checkpointed by ``fit``).

    ``normalize`` maps a gathered batch of ``x`` to float inputs before the crop (so ``x`` may stay uint8 on the
    device, a quarter of the memory; the padding is then zero in normalised units, as when ``x`` was normalised
    beforehand); ``channels_last`` returns the batches in that memory format (fast convolutions on a GPU).
    """

    pad: int = 4
    flip: bool = True
    normalize: Callable[[torch.Tensor], torch.Tensor] | None = None
    channels_last: bool = False

    def _float(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(x) if self.normalize is not None else x

    def _format(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor,
                                                                                                    torch.Tensor]]:
        """Shuffled, augmented batches with ``generator``; without one, the plain images in order."""
        if generator is None:
            for x, y in Split(self.x, self.y).batches(batch_size):
                yield self._format(self._float(x)), y
            return
        order = torch.randperm(len(self), generator=generator)
        dev = self.x.device
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            dy, dx = torch.randint(0, 2 * self.pad + 1, (2, len(idx)), generator=generator)
            flip = (torch.rand(len(idx), generator=generator) < 0.5) & self.flip
            idx = idx.to(dev)
            out = crop_flip(self._float(self.x[idx]), dy.to(dev), dx.to(dev), flip.to(dev), self.pad)
            yield self._format(out), self.y[idx]
