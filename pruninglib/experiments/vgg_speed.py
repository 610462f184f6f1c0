"""Speed of the VGG chapter's training step on its device, measured by the GPU job before it trains (alone on the
device): time per step of a plain PyTorch loop and of the chapter's loops on the same batches, their ratio, and the
model FLOPs utilization (MFU: training FLOPs per second from ``torch.utils.flop_counter`` over the device's dense
bfloat16 peak).

The plain loop is what a PyTorch user would write: the same VGG-16 (channels_last, bfloat16 autocast on a GPU),
SGD with Nesterov momentum and ``weight_decay`` in the optimizer, the same cosine schedule, the same augmented
batches. The chapter's loops are ``fit`` with the dense run's penalty; with the L2 run's penalty and stochastic
pruning at every step (as during the ramp, the first ``ramp_end`` of training); and with the mask frozen (as
after the ramp). The per-epoch tracker is timed apart (one snapshot), as its share of an epoch.
"""
from __future__ import annotations

import dataclasses
import math
import statistics
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from pruninglib.config import VGGCifarConfig
from pruninglib.experiments.common import stochastic_pruner
from pruninglib.tracking import snapshot
from pruninglib.training import fit, make_optimizer
from pruninglib.training.loop import cosine_schedule

# Dense (no sparsity) bfloat16 tensor-core peaks from NVIDIA's data sheets, TFLOP/s; the first name that occurs in
# torch.cuda.get_device_name wins, so the specific names come first.
PEAK_BF16_TFLOPS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H200 NVL", 835.0), ("H200", 989.4),
                    ("H100", 989.4), ("A100", 312.0), ("L40S", 362.1))


def peak_flops(device: torch.device, tflops: float | None = None) -> float | None:
    """The device's dense bfloat16 peak in FLOP/s: ``tflops`` when given, else from :data:`PEAK_BF16_TFLOPS`;
    None for a CPU or an unlisted GPU (MFU is then not reported)."""
    if tflops is not None:
        return tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((t * 1e12 for key, t in PEAK_BF16_TFLOPS if key in name), None)


def train_step_flops(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of one training step's forward and backward pass on the batch ``x``, ``y`` (a multiply-add counts
    as 2); the model's gradients are cleared afterwards."""
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def probe(cfg: VGGCifarConfig, train: Any, val: Any, new_model: Callable[[int], torch.nn.Module],
          penalty: Callable[[str], Any], steps: int, reps: int, peak_tflops: float | None = None) -> dict[str, Any]:
    """Time ``steps`` steps of each loop (see the module docstring) on the first ``steps`` batches of ``train``
    (a split of the chapter's kind), ``reps`` times in alternating order after one warm-up round; the median of
    each loop's times. ``new_model(seed)`` builds the chapter's net on the device, ``penalty(method)`` its
    penalty. Returns per loop ms per step, images/s, MFU and the ratio to the plain loop, the FLOPs per image of
    a training step, the peak used, and the tracker's seconds per snapshot and share of an epoch."""
    b = cfg.batch_size
    sub = dataclasses.replace(train, x=train.x[:steps * b], y=train.y[:steps * b])
    device = train.x.device
    autocast = torch.bfloat16 if cfg.amp and device.type == "cuda" else None
    model = new_model(0)
    x, y = next(iter(sub.batches(b, torch.Generator().manual_seed(0))))
    with torch.autocast(device.type, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
        flops = train_step_flops(model, x, y)

    def plain() -> None:
        m = new_model(0)
        opt = torch.optim.SGD(m.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True,
                              weight_decay=cfg.dense_weight_decay)
        sched = cosine_schedule(opt, steps)
        m.train()
        for xb, yb in sub.batches(b, torch.Generator().manual_seed(0)):
            with torch.autocast(device.type, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
                loss = F.cross_entropy(m(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()

    def ours(method: str, ramp_end: float | None) -> Callable[[], None]:
        def run() -> None:
            m = new_model(0)
            c = dataclasses.replace(cfg, ramp_start=0.0, ramp_end=ramp_end) if ramp_end is not None else cfg
            callbacks = [stochastic_pruner(c, m, 0)] if ramp_end is not None else []
            fit(m, sub, epochs=1, batch_size=b, optimizer=make_optimizer(cfg.optimizer, m.parameters(), cfg.lr),
                generator=torch.Generator().manual_seed(0), penalty=penalty(method), callbacks=callbacks,
                progress=False, autocast=autocast)
        return run

    loops = {"plain PyTorch loop": plain, "fit, dense run": ours("dense", None),
             "fit, L2 run during the ramp (pruning every step)": ours("l2", 1.0),
             "fit, L2 run after the ramp (mask frozen)": ours("l2", 1e-6)}
    times: dict[str, list[float]] = {name: [] for name in loops}
    for r in range(reps + 1):
        for name in (list(loops) if r % 2 == 0 else list(loops)[::-1]):
            _sync(device)
            t0 = time.perf_counter()
            loops[name]()
            _sync(device)
            if r > 0:  # round 0 warms up (cuDNN's algorithm search, allocator)
                times[name].append((time.perf_counter() - t0) / steps)
    peak = peak_flops(device, peak_tflops)
    step = {name: statistics.median(t) for name, t in times.items()}
    base = step["plain PyTorch loop"]
    t0 = time.perf_counter()
    snapshot(model, {"val": val}, 0)
    _sync(device)
    tracker_s = time.perf_counter() - t0
    epoch_steps = math.ceil(len(train) / b)
    return {"batch_size": b, "steps": steps, "reps": reps, "device": str(device),
            "flops_per_image": flops / len(y), "peak_tflops": None if peak is None else peak / 1e12,
            "loops": {name: {"ms_per_step": 1e3 * s, "images_per_s": b / s, "x_plain": s / base,
                             "mfu": None if peak is None else flops / s / peak} for name, s in step.items()},
            "tracker_s": tracker_s, "tracker_share_of_epoch": tracker_s / (epoch_steps * base)}


def report(p: dict[str, Any]) -> list[str]:
    """The probe's lines for the job's log."""
    lines = [f"speed probe on {p['device']}: batch {p['batch_size']}, {p['steps']} steps per loop, median of "
             f"{p['reps']}; {p['flops_per_image'] / 1e9:.2f} GFLOP per image and training step (flop_counter); "
             f"peak {p['peak_tflops'] or 'unknown'} TFLOP/s bf16"]
    for name, v in p["loops"].items():
        mfu = "n/a" if v["mfu"] is None else f"{100 * v['mfu']:.1f}%"
        lines.append(f"  {name}: {v['ms_per_step']:.2f} ms/step, {v['images_per_s']:,.0f} images/s, MFU {mfu}, "
                     f"{v['x_plain']:.2f}x plain")
    lines.append(f"  tracker: {p['tracker_s']:.2f} s per epoch snapshot, {100 * p['tracker_share_of_epoch']:.1f}% of a "
                 f"plain epoch")
    return lines
