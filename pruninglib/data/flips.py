"""Training images for dense prediction, augmented by the 8 flips and 90-degree rotations of the square, applied
to the image and its per-pixel labels together (drawn from the caller's generator, so runs are reproducible)."""
from __future__ import annotations

from typing import Iterator

import torch

from pruninglib.data.tensors import Split


class FlipSplit(Split):
    """A :class:`Split` with images x (N, C, S, S) and label maps y (N, S, S); shuffled batches get a random
    element of the dihedral group per batch (one draw per batch keeps it cheap on the CPU); in-order batches
    (evaluation) are returned as they are."""

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor,
                                                                                                    torch.Tensor]]:
        for x, y in super().batches(batch_size, generator):
            if generator is not None:
                k, flip = (int(v) for v in torch.randint(0, 4, (2,), generator=generator))
                x, y = torch.rot90(x, k, dims=(-2, -1)), torch.rot90(y, k, dims=(-2, -1))
                if flip % 2:
                    x, y = x.flip(-1), y.flip(-1)
            yield x.contiguous(), y.contiguous()
