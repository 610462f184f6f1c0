"""U-Net (Ronneberger et al. 2015) with configurable depth, base width and BatchNorm, built so that surgery is exact.

Layout for ``depth`` d and ``base`` w (level i has width w * 2^i):

- encoder level i (0..d-1): ``enc.i.0`` and ``enc.i.1`` (3x3 conv [-> BatchNorm] -> ReLU); its output is the skip
  of level i and, after 2x2 max-pooling, the input of level i + 1; level d is the bottleneck;
- decoder level i (d-1..0): nearest-neighbour x2 up-sampling of the level below, then ``up.i`` (3x3 conv [-> BN]
  -> ReLU, width w * 2^i), then ``dec.i.0`` on the concatenation ``[skip_i, up_i]`` (skip first), then ``dec.i.1``;
- ``head``: 1x1 conv to ``classes`` logits per pixel.

Why it is built this way (see :mod:`pruninglib.models.layers`): every conv is a
:class:`~pruninglib.models.layers.FoldableConv2d`, so a dead channel's constant is absorbed exactly behind the zero
padding; max-pooling and nearest up-sampling map a constant map to the same constant (a 2x2 stride-2 transposed
conv would turn it into a 2x2-periodic pattern, which no bias holds). Input sides must be divisible by 2^d.

Couplings: ``dec.i.0`` has two producers. ``enc.i.1`` feeds its input channels [0, w_i) and ``up.i`` feeds
[w_i, 2 w_i); each :class:`~pruninglib.models.base.Coupling` carries that offset per consumer, and surgery shifts
the later slice when the earlier one shrinks.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pruninglib.models.base import MODELS, Coupling
from pruninglib.models.layers import FoldableConv2d


def _widths(depth: int, base: int) -> dict[str, int]:
    """Default output width of every conv by module name (before any surgery)."""
    out = {}
    for i in range(depth + 1):
        out[f"enc.{i}.0"] = out[f"enc.{i}.1"] = base * 2 ** i
    for i in range(depth):
        out[f"up.{i}"] = out[f"dec.{i}.0"] = out[f"dec.{i}.1"] = base * 2 ** i
    return out


@MODELS.register("unet")
class UNet(nn.Module):
    """Input (N, in_channels, H, W), H and W divisible by 2^depth -> logits (N, classes, H, W).

    ``widths`` overrides the output width of any conv by name (surgery records the shrunk widths there, so
    :meth:`spec` rebuilds a shrunk net); ``batchnorm`` puts a BatchNorm2d after every conv but the head (convs
    then have no bias).
    """

    def __init__(self, depth: int = 3, base: int = 8, in_channels: int = 1, classes: int = 3, batchnorm: bool = True,
                 widths: dict[str, int] | None = None) -> None:
        super().__init__()
        if not all(isinstance(v, int) and v >= 1 for v in (depth, base, in_channels, classes)):
            raise ValueError(f"depth = {depth}, base = {base}, in_channels = {in_channels}, classes = {classes} are "
                             f"not allowed: positive integers")
        w = _widths(depth, base)
        unknown = sorted(set(widths or {}) - set(w))
        if unknown:
            raise ValueError(f"widths for {unknown} are not allowed: conv names are {sorted(w)}")
        w.update({k: int(v) for k, v in (widths or {}).items()})
        self.depth, self.base, self.batchnorm = depth, base, batchnorm
        self.convs = nn.ModuleDict()
        self.norms = nn.ModuleDict()

        def add(name: str, cin: int) -> None:
            key = name.replace(".", "_")
            self.convs[key] = FoldableConv2d(cin, w[name], 3, padding=1, bias=not batchnorm)
            if batchnorm:
                self.norms[key] = nn.BatchNorm2d(w[name])

        cin = in_channels
        for i in range(depth + 1):
            add(f"enc.{i}.0", cin)
            add(f"enc.{i}.1", w[f"enc.{i}.0"])
            cin = w[f"enc.{i}.1"]
        for i in reversed(range(depth)):
            add(f"up.{i}", cin)
            add(f"dec.{i}.0", w[f"enc.{i}.1"] + w[f"up.{i}"])
            add(f"dec.{i}.1", w[f"dec.{i}.0"])
            cin = w[f"dec.{i}.1"]
        self.head = FoldableConv2d(cin, classes, 1, padding=0, bias=True)

    def _block(self, name: str, x: torch.Tensor) -> torch.Tensor:
        key = name.replace(".", "_")
        x = self.convs[key](x)
        return torch.relu(self.norms[key](x) if self.batchnorm else x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = 2 ** self.depth
        if x.shape[-1] % side or x.shape[-2] % side:
            raise ValueError(f"input of size {tuple(x.shape[-2:])} is not allowed: sides divisible by 2^depth = "
                             f"{side}")
        skips = []
        for i in range(self.depth + 1):
            if i:
                x = F.max_pool2d(x, 2)
            x = self._block(f"enc.{i}.1", self._block(f"enc.{i}.0", x))
            skips.append(x)
        for i in reversed(range(self.depth)):
            up = self._block(f"up.{i}", F.interpolate(x, scale_factor=2, mode="nearest"))
            x = self._block(f"dec.{i}.1", self._block(f"dec.{i}.0", torch.cat([skips[i], up], dim=1)))
        return self.head(x)

    def names(self) -> list[str]:
        """Conv module names in forward order ("enc.0.0", ..., "dec.0.1"); the head is not included."""
        return [k.replace("_", ".") for k in self.convs]

    def width(self, name: str) -> int:
        return self.convs[name.replace(".", "_")].out_channels

    def example_input_shape(self) -> tuple[int, ...]:
        side = max(8, 2 ** self.depth * 2)
        return (self.convs["enc_0_0"].in_channels, side, side)

    def spec(self) -> dict[str, Any]:
        return {"name": "unet", "kwargs": {"depth": self.depth, "base": self.base, "in_channels":
                                           self.convs["enc_0_0"].in_channels, "classes": self.head.out_channels,
                                           "batchnorm": self.batchnorm,
                                           "widths": {n: self.width(n) for n in self.names()}}}

    def prunable(self) -> dict[str, nn.Parameter]:
        """Every conv's filter bank, the head's included (BatchNorm parameters and biases are not pruned)."""
        out = {f"convs.{k}.weight": c.weight for k, c in self.convs.items()}
        out["head.weight"] = self.head.weight
        return out

    def blocks(self) -> list[str]:
        """Coupling labels in forward order (the tracking and plotting layer names): the conv names."""
        return self.names()

    def couplings(self) -> list[Coupling]:
        """One coupling per conv (its channels), in forward order; consumers carry the producer's input offset."""
        d = self.depth
        out = []
        for name in self.names():
            part, i = name.split(".")[0], int(name.split(".")[1])
            if name.endswith(".0") and part in ("enc", "dec"):
                cons: tuple[tuple[str, int], ...] = ((f"{part}.{i}.1", 0),)
            elif part == "enc":  # enc.i.1: the skip (offset 0 of dec.i.0) and, pooled, the next level
                cons = (((f"enc.{i + 1}.0", 0), (f"dec.{i}.0", 0)) if i < d else ((f"up.{d - 1}", 0),))
            elif part == "up":
                cons = ((f"dec.{i}.0", self.width(f"enc.{i}.1")),)
            else:  # dec.i.1
                cons = ((f"up.{i - 1}", 0),) if i > 0 else (("head", 0),)
            key = lambda n: "head" if n == "head" else f"convs.{n.replace('.', '_')}"  # noqa: E731
            out.append(Coupling(layer=name, producer=key(name), consumers=tuple(key(c) for c, _ in cons),
                                norm=f"norms.{name.replace('.', '_')}" if self.batchnorm else None,
                                offsets=tuple(o for _, o in cons)))
        return out

