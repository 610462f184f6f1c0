"""Layers that let surgery stay exact where a plain layer cannot.

:class:`FoldableConv2d` is a zero-padded ``Conv2d`` that can absorb constant input channels exactly. A removed
(dead) input channel carries one constant ``k_c`` at every position. Inside the image the consumer sees it under
every kernel tap, so it adds ``k_c * W[o, c].sum()``; at the zero-padded border it sees fewer taps. Worked example:
a 3x3 kernel of ones on a constant map 2 gives 18 inside, 12 on an edge and 8 at a corner. No bias can express that,
but the exact contribution of ALL removed channels is what one single-channel convolution of an image of ones with
``K[o] = sum_c k_c * W[o, c]`` gives, with the layer's own geometry. Written per tap, with ``inside_rows[i, a]`` = 1
when kernel row ``a`` of output row ``i`` falls inside the image (not on padding), and ``inside_cols`` alike:

    correction[o, i, j] = sum_{a, b} K[o, a, b] * inside_rows[i, a] * inside_cols[j, b]

``K`` is a buffer (``folded_kernel``, zeros until surgery writes it), so a shrunk model saves and loads like any
other; the map is computed once per input size, device and dtype (element-wise, so FLOP counters see only the
convolution) and cached.

Speed (benchmarks/README.md, section 3): the map is added IN PLACE to the convolution's fresh output, one
element-wise pass and no new tensor. Folding the interior value into the bias and correcting only the border band
measured slower on CPU: it takes two strided operations, and the left and right columns of an (N, C, H, W) map
touch the cache lines of every row anyway.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


def taps_inside(size: int, kernel: int, stride: int, padding: int | str, dilation: int) -> torch.Tensor:
    """Float (outputs, kernel): 1 where kernel tap ``a`` of output position ``i`` reads the input (index in
    [0, size)), 0 where it reads zero padding. One spatial dimension of a convolution. Example: size 4, kernel 3,
    padding 1 gives rows [0, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 0]."""
    if padding == "same":  # PyTorch pads total d (k - 1), the extra one on the right; stride is 1
        left, outputs = dilation * (kernel - 1) // 2, size
    else:
        left = 0 if padding == "valid" else int(padding)
        outputs = (size + 2 * left - dilation * (kernel - 1) - 1) // stride + 1
    index = torch.arange(outputs)[:, None] * stride - left + torch.arange(kernel)[None, :] * dilation
    return ((index >= 0) & (index < size)).double()


def is_padded(conv: nn.Conv2d) -> bool:
    """Whether some kernel tap of ``conv`` can fall on zero padding (then a constant input is not seen under all
    taps at the border)."""
    return conv.padding == "same" or (conv.padding != "valid" and any(p != 0 for p in conv.padding))


class FoldableConv2d(nn.Conv2d):
    """``nn.Conv2d`` (groups 1, zero padding) plus the exact contribution of folded constant input channels.

    ``folded_kernel`` has shape (out_channels, 1, kh, kw); while it is all zero the layer is a plain Conv2d
    (no extra work in forward). Surgery adds to it with :meth:`fold_constants` (which mutates the layer).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.groups != 1 or self.padding_mode != "zeros":
            raise ValueError(f"FoldableConv2d with groups = {self.groups}, padding_mode = {self.padding_mode!r} is "
                             f"not allowed: groups 1 and padding_mode 'zeros'")
        self.register_buffer("folded_kernel", self.weight.new_zeros(self.out_channels, 1, *self.kernel_size))
        self._folded = False
        self._cache: dict[tuple, torch.Tensor] = {}
        self.register_load_state_dict_post_hook(lambda module, _: module._refresh())

    def _refresh(self) -> None:
        self._folded = bool(self.folded_kernel.detach().abs().sum() > 0)
        self._cache = {}

    def fold_constants(self, weight: torch.Tensor, constant: torch.Tensor) -> None:
        """Add the contribution of input channels with weights ``weight`` ((out, dropped, kh, kw)) that carry the
        constants ``constant`` ((dropped,)) at every position. Mutates this layer."""
        with torch.no_grad():
            self.folded_kernel += torch.einsum("odhw,d->ohw", weight, constant).unsqueeze(1)
        self._refresh()

    def correction(self, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        """The folded channels' contribution for an input of size ``height`` x ``width``: (1, out, H', W'), in
        ``like``'s device and dtype (computed in ``folded_kernel``'s dtype, then cast)."""
        key = (height, width, like.device, like.dtype)
        if key not in self._cache:
            kernel = self.folded_kernel.detach()[:, 0]
            rows, cols = (taps_inside(n, k, s, p, d).to(kernel) for n, k, s, p, d in zip(
                (height, width), self.kernel_size, self.stride,
                (self.padding,) * 2 if isinstance(self.padding, str) else self.padding, self.dilation))
            out = kernel.new_zeros(kernel.shape[0], rows.shape[0], cols.shape[0])
            for a in range(kernel.shape[1]):
                for b in range(kernel.shape[2]):
                    out += kernel[:, a, b, None, None] * (rows[:, a, None] * cols[None, :, b])
            self._cache[key] = out.unsqueeze(0).to(device=like.device, dtype=like.dtype)
        return self._cache[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        if self._folded:
            out += self.correction(x.shape[-2], x.shape[-1], out)  # in place: conv's backward does not need `out`
        return out

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> "FoldableConv2d":
        self._cache = {}  # .to(), .double(), .cuda() invalidate the cached maps
        return super()._apply(fn, *args, **kwargs)


class FlattenLinear(nn.Linear):
    """``nn.Linear`` whose inputs are flattened (C, H, W) feature maps: input ``c * group + k`` is position ``k``
    of channel ``c`` (``group`` = H * W). Only surgery needs to know: dropping input channel ``c`` drops its
    ``group`` consecutive columns, and a dead channel's constant reaches all of them (pooling keeps it constant).
    The forward pass is a plain Linear on (N, C * group) inputs.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, group: int = 1,
                 **kwargs: Any) -> None:
        if group < 1 or in_features % group:
            raise ValueError(f"group = {group} is not allowed: a positive divisor of in_features = {in_features}")
        super().__init__(in_features, out_features, bias, **kwargs)
        self.group = group
