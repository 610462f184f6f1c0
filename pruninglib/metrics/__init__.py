"""Pure measurement functions: accuracy and loss, parameter counts, FLOPs, latency; binary classification metrics
with confidence intervals in :mod:`pruninglib.metrics.binary`."""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pruninglib.data.tensors import Split


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, batch_size: int = 2048) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``split`` (eval mode; the model's mode is restored), per
    label: per example for class labels y (N,), per pixel for segmentation labels y (N, H, W)."""
    was_training = model.training
    model.eval()
    loss, correct = 0.0, 0
    for x, y in split.batches(batch_size):
        logits = model(x)
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    model.train(was_training)
    n = max(split.y.numel(), 1)
    return {"loss": loss / n, "accuracy": correct / n}


def count_params(model: nn.Module) -> dict[str, int]:
    """Total parameters and non-zero parameters."""
    total = sum(p.numel() for p in model.parameters())
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    return {"params": total, "nonzero_params": nonzero}


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass on a single input of ``input_shape`` (torch.utils.flop_counter; a
    multiply-add counts as 2). Dense count: zeros in a masked weight are still multiplied."""
    p = next(model.parameters())
    x = torch.zeros((1, *input_shape), device=p.device, dtype=p.dtype)
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return int(counter.get_total_flops())


@torch.no_grad()
def latency(model: nn.Module, input_shape: tuple[int, ...], batch_size: int, *, repeats: int = 30,
            warmup: int = 5) -> float:
    """Median wall time in milliseconds of one forward pass on a batch of ``batch_size`` (eval mode)."""
    p = next(model.parameters())
    x = torch.randn((batch_size, *input_shape), device=p.device, dtype=p.dtype)
    was_training = model.training
    model.eval()
    sync = torch.cuda.synchronize if p.device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        model(x)
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model(x)
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    model.train(was_training)
    return statistics.median(times)
