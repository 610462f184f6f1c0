"""Whole data sets held as tensors on the compute device, with explicit-seed batching."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch


@dataclass
class Split:
    """Inputs ``x`` (N, ...) float32 and labels ``y`` (N,) int64, on one device."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} rows but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.y)

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor,
                                                                                                    torch.Tensor]]:
        """Yield (x, y) mini-batches; shuffled with ``generator`` when one is given, in order otherwise."""
        n = len(self)
        if generator is None:
            order = None
        else:
            order = torch.randperm(n, generator=generator).to(self.x.device)
        for start in range(0, n, batch_size):
            if order is None:
                yield self.x[start:start + batch_size], self.y[start:start + batch_size]
            else:
                idx = order[start:start + batch_size]
                yield self.x[idx], self.y[idx]


@dataclass
class Dataset:
    """Train, validation and test splits plus a record of where they came from (for results.json)."""

    train: Split
    val: Split
    test: Split | None  # None in a tuning or study run, which must not read the test split
    source: dict[str, object] = field(default_factory=dict)


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU raises a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but torch.cuda.is_available() is False; use 'cpu' or 'auto'")
    return torch.device(name)
