"""Exact surgery against Torch-Pruning: CPU latency of VGG-16 and the U-Net shrunk by pruninglib and by
Torch-Pruning 1.6.1 from the same masks, next to the dense net and the FLOPs ratio.

Masks: in every coupling's producer a random 50-60% of the filters die (all weights zero), and every BatchNorm
gets random statistics and a shift ``beta`` in [-0.5, 1), so most dead channels carry a non-zero constant
``relu(BN(0))``. pruninglib's :func:`~pruninglib.surgery.shrink` folds those constants (exact); Torch-Pruning
removes the same filters from a copy with plain ``nn.Conv2d`` layers and drops the constants (not exact: the record
holds both nets' largest logit difference to the masked one, and pruninglib's with the surgery done in float64).
Both shrunk nets have the same widths and FLOPs.

Three exact ways for a FoldableConv2d to add its folded map are timed on the same shrunk net: ``ours`` (the
library: the full map added in place), ``out_of_place`` (the library before this benchmark: ``out + map``, a new
tensor per call) and ``border_band`` (the interior value in the conv's bias, then in-place adds on the first and
last rows and columns only); ``ours_without_map`` (our net with plain convolutions, inexact) is the control that
shows what the maps cost.

Timing: one torch thread; per repetition every net runs max(3, 30 // batch) forward passes (``no_grad``, eval
mode) on the same input, the nets in alternating order; a pass is timed in CPU seconds of this process
(:func:`benchmarks.common.timed`), the fastest pass is the repetition's time (the pass least slowed by other jobs
on a shared machine). Reported: medians over repetitions, and the median (with range) of the per-repetition ratio
to Torch-Pruning's time. Target: ``ours`` at most 1.05 x Torch-Pruning at every batch size.

    pip install -e ".[bench]"        # torch-pruning==1.6.1, for this script only
    python -m benchmarks.surgery_vs_torch_pruning [--reps 15] [--threads 1] [--batches 1 8 64]
"""
from __future__ import annotations

import argparse
import copy
import statistics
from typing import Callable

import torch
from torch import nn

from benchmarks.common import interleaved, machine, median_ratio, save, setup_threads, timed
from pruninglib.metrics import count_flops, count_params
from pruninglib.models import FoldableConv2d, UNet, VGG16
from pruninglib.models.layers import is_padded
from pruninglib.pruning import dead_nodes
from pruninglib.surgery import shrink

# name -> (dense model, one input's shape, description)
ARCHITECTURES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...], str]] = {
    "vgg16": (lambda: VGG16(width=1.0), (3, 32, 32), "VGG-16, full width (4,224 filters), CIFAR 32x32"),
    "unet": (lambda: UNet(depth=3, base=8), (1, 80, 80), "U-Net depth 3, base 8, 80x80 (the chapter's paper size)"),
}
TARGET = 1.05  # ours / Torch-Pruning latency, at every batch size


def kill_filters(model: nn.Module, g: torch.Generator, low: float = 0.5, high: float = 0.6) -> None:
    """MUTATES ``model``: zero a random fraction in [low, high) of every coupling producer's filters; give every
    BatchNorm random running statistics, scale and a shift in [-0.5, 1), so dead channels carry constants."""
    with torch.no_grad():
        for c in model.couplings():
            w = model.get_submodule(c.producer).weight
            n = w.shape[0]
            k = int(n * (low + (high - low) * float(torch.rand(1, generator=g))))
            w[torch.randperm(n, generator=g)[:k]] = 0
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.5, 1.0, generator=g)


def plain_convs(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every FoldableConv2d replaced by an ``nn.Conv2d`` with the same weights."""
    out = copy.deepcopy(model)
    for name, mod in list(out.named_modules()):
        if isinstance(mod, FoldableConv2d):
            conv = nn.Conv2d(mod.in_channels, mod.out_channels, mod.kernel_size, mod.stride, mod.padding,
                             mod.dilation, bias=mod.bias is not None)
            conv.load_state_dict({k: v for k, v in mod.state_dict().items() if k != "folded_kernel"})
            out.set_submodule(name, conv)
    return out


def torch_pruning_shrink(model: nn.Module, shape: tuple[int, ...]) -> nn.Module:
    """The masked ``model``'s dead filters removed by Torch-Pruning (dependency graph, constants dropped)."""
    import torch_pruning as tp

    dead = dead_nodes(model)
    out = plain_convs(model).eval()
    graph = tp.DependencyGraph().build_dependency(out, example_inputs=torch.randn(1, *shape))
    for c in model.couplings():
        idxs = dead[c.layer].nonzero().flatten().tolist()
        graph.get_pruning_group(out.get_submodule(c.producer), tp.prune_conv_out_channels, idxs=idxs).prune()
    return out


class OutOfPlaceFoldableConv2d(FoldableConv2d):
    """The library's FoldableConv2d before this benchmark: the folded map added as a new tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._conv_forward(x, self.weight, self.bias)
        return out + self.correction(x.shape[-2], x.shape[-1], out) if self._folded else out


class BorderBandFoldableConv2d(FoldableConv2d):
    """The folded map's interior value in the conv's bias, then the rest added on the one-pixel border band only
    (two in-place adds on strided views). For 3x3 convolutions with padding 1 and stride 1 (every padded conv of
    VGG-16 and the U-Net)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._folded or min(x.shape[-2:]) < 3:  # maps under 3x3 are all border
            return super().forward(x)
        key = (x.shape[-2], x.shape[-1], x.device, x.dtype)
        if key not in self._band:  # cached like the full map: the bias with the interior value, the band's rest
            corr = self.correction(x.shape[-2], x.shape[-1], x)
            interior = self.folded_kernel.detach().sum(dim=(1, 2, 3)).to(corr)
            rest = corr - interior[:, None, None]  # zero for an unpadded conv
            band = ((rest[:, :, ::rest.shape[-2] - 1].contiguous(), rest[:, :, 1:-1, ::rest.shape[-1] - 1].contiguous())
                    if is_padded(self) else (None, None))
            self._band[key] = (interior if self.bias is None else self.bias.detach() + interior, *band)
        bias, rows, cols = self._band[key]
        out = self._conv_forward(x, self.weight, bias)
        if rows is not None:
            n, c, h, w = out.shape
            # views, not out[...] += (which copies the slice back through __setitem__): the first and last rows;
            # the first and last columns between them
            out.as_strided((n, c, 2, w), (c * h * w, h * w, (h - 1) * w, 1)).add_(rows)
            out.as_strided((n, c, h - 2, 2), (c * h * w, h * w, w, w - 1), w).add_(cols)
        return out


def with_layer(model: nn.Module, cls: type[FoldableConv2d]) -> nn.Module:
    """A copy of a shrunk ``model`` whose FoldableConv2d layers are of class ``cls`` (same state)."""
    out = copy.deepcopy(model)
    for mod in out.modules():
        if type(mod) is FoldableConv2d:
            if (cls is BorderBandFoldableConv2d and is_padded(mod)
                    and (mod.kernel_size, mod.padding, mod.stride) != ((3, 3), (1, 1), (1, 1))):
                raise ValueError(f"the border-band variant covers 3x3 convs with padding 1, stride 1, not {mod}")
            mod.__class__, mod._band = cls, {}
    return out.eval()


@torch.no_grad()
def max_diff(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    return float((a(x) - b(x)).abs().max())


@torch.no_grad()
def forward_ms(model: nn.Module, x: torch.Tensor, repeats: int) -> float:
    """CPU milliseconds of the fastest of ``repeats`` forward passes (after one warm-up pass)."""
    model(x)
    return min(timed(lambda: model(x)) for _ in range(repeats)) * 1e3


def measure(name: str, batches: tuple[int, ...], reps: int, seed: int) -> dict:
    make, shape, description = ARCHITECTURES[name]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        masked = make()
    kill_filters(masked, torch.Generator().manual_seed(seed))
    masked.eval()
    ours, peer = shrink(masked).eval(), torch_pruning_shrink(masked, shape)
    nets = {"dense": masked, "ours": ours, "out_of_place": with_layer(ours, OutOfPlaceFoldableConv2d),
            "border_band": with_layer(ours, BorderBandFoldableConv2d), "torch_pruning": peer,
            "ours_without_map": plain_convs(ours).eval()}  # the control: inexact, the rest of our net
    masked64 = copy.deepcopy(masked).double()  # surgery in float64: the proof that the function is kept
    x = torch.randn(4, *shape, generator=torch.Generator().manual_seed(seed))
    widths = [m.out_channels for m in ours.modules() if isinstance(m, nn.Conv2d)]
    flops = count_flops(masked, shape)
    out: dict = {"description": description,
                 "same_widths": widths == [m.out_channels for m in peer.modules() if isinstance(m, nn.Conv2d)],
                 "filters": {"dense": sum(m.out_channels for m in masked.modules() if isinstance(m, nn.Conv2d)),
                             "shrunk": sum(widths)},
                 "params": {"dense": count_params(masked)["params"], "ours": count_params(ours)["params"],
                            "torch_pruning": count_params(peer)["params"]},
                 "flops_ratio": {"ours": round(flops / count_flops(ours, shape), 3),
                                 "torch_pruning": round(flops / count_flops(peer, shape), 3)},
                 "max_abs_diff_to_masked": {"ours_float64": max_diff(masked64, shrink(masked64).eval(), x.double()),
                                            **{f"{n}_float32": max_diff(masked, m, x) for n, m in nets.items()
                                               if n != "dense"}},
                 "max_abs_logit": float(masked(x).detach().abs().max()),
                 "folded_convs": sum(1 for m in ours.modules() if isinstance(m, FoldableConv2d) and m._folded),
                 "map_bytes": sum(c.numel() * c.element_size() for m in ours.modules()
                                  if isinstance(m, FoldableConv2d) for c in m._cache.values()),  # maps of x's size
                 "batches": {}}
    for b in batches:
        xb = torch.randn(b, *shape, generator=torch.Generator().manual_seed(b))
        repeats = max(3, 30 // b)
        t = interleaved({n: (lambda m=m: forward_ms(m, xb, repeats)) for n, m in nets.items()}, reps)
        row: dict = {f"{n}_ms": round(statistics.median(v), 3) for n, v in t.items()}
        for n in ("ours", "out_of_place", "border_band", "ours_without_map"):
            ratios = sorted(a / p for a, p in zip(t[n], t["torch_pruning"]))
            row[f"{n}_over_torch_pruning"] = round(median_ratio(t[n], t["torch_pruning"]), 3)
            row[f"{n}_over_torch_pruning_range"] = [round(ratios[0], 3), round(ratios[-1], 3)]
        row["speedup_ours"] = round(median_ratio(t["dense"], t["ours"]), 3)
        out["batches"][f"batch_{b}"] = row
    out["target_met"] = all(r["ours_over_torch_pruning"] <= TARGET for r in out["batches"].values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--models", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    setup_threads(args.threads)
    record: dict = {"machine": machine(), "reps": args.reps, "seed": args.seed, "architectures": {}}
    for name in args.models:
        res = measure(name, tuple(args.batches), args.reps, args.seed)
        record["architectures"][name] = res
        diffs = ", ".join(f"{k} {v:.2e}" for k, v in res["max_abs_diff_to_masked"].items())
        print(f"{name}: {res['filters']['dense']} -> {res['filters']['shrunk']} filters, same widths as "
              f"Torch-Pruning: {res['same_widths']}; FLOPs ratio {res['flops_ratio']}; max |masked - shrunk|: "
              f"{diffs}; largest |logit| {res['max_abs_logit']:.2f}; {res['folded_convs']} convs add a map, "
              f"{res['map_bytes'] / 2**20:.2f} MiB of maps")
        for b, r in res["batches"].items():
            print(f"  {b}: dense {r['dense_ms']} ms, Torch-Pruning {r['torch_pruning_ms']} ms, speedup of ours over "
                  f"dense {r['speedup_ours']}x; x Torch-Pruning (median, range): " + "; ".join(
                      f"{n} {r[f'{n}_ms']} ms {r[f'{n}_over_torch_pruning']} {r[f'{n}_over_torch_pruning_range']}"
                      for n in ("ours", "out_of_place", "border_band", "ours_without_map")))
        print(f"{name}: target (ours <= {TARGET} x Torch-Pruning at every batch) "
              f"{'met' if res['target_met'] else 'MISSED'}")
    print("saved", save(f"surgery_vs_torch_pruning_threads{args.threads}", record))


if __name__ == "__main__":
    main()
