"""Exact surgery against Torch-Pruning: CPU latency of VGG-16 and the U-Net shrunk by pruninglib and by
Torch-Pruning 1.6.1 from the same masks, next to the dense net and the FLOPs ratio.

Masks: in every coupling's producer a random 50-60% of the filters die (all weights zero), and every BatchNorm
gets random statistics and a shift ``beta`` in [-0.5, 1), so most dead channels carry a non-zero constant
``relu(BN(0))``. pruninglib's :func:`~pruninglib.surgery.shrink` folds those constants (exact); Torch-Pruning
removes the same filters from a copy with plain ``nn.Conv2d`` layers and drops the constants (not exact: the record
holds both nets' largest logit difference to the masked one, and pruninglib's in float64 too). Both shrunk nets
have the same widths and FLOPs.

Timing: one torch thread; per repetition every net runs max(3, 30 // batch) forward passes (``no_grad``, eval
mode) on the same input, the nets in alternating order; a pass is timed in CPU seconds of this process
(:func:`benchmarks.common.timed`), the fastest pass is the repetition's time. Reported: medians over repetitions,
and the median (with range) of the per-repetition ratio ours / Torch-Pruning. Target: at most 1.05 at every batch.

    pip install -e ".[bench]"        # torch-pruning==1.6.1, for this script only
    python -m benchmarks.surgery_vs_torch_pruning [--reps 7] [--threads 1] [--batches 1 64]
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


class BandFoldableConv2d(FoldableConv2d):
    """The alternative design, timed for comparison: the folded map's interior value in the bias, and only the
    one-pixel border band corrected (two in-place strided adds). For 3x3 convolutions with padding 1 and stride 1
    (every padded conv of VGG-16 and the U-Net); exact like FoldableConv2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._folded or min(x.shape[-2:]) < 3:  # maps under 3x3 are all border
            return super().forward(x)
        key = (x.shape[-2], x.shape[-1], x.device, x.dtype)
        if key not in self._band:  # cached like the full map: bias with the interior value, the band's rest
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


def band_copy(model: nn.Module) -> nn.Module:
    """A copy of a shrunk ``model`` whose FoldableConv2d layers correct only the border band."""
    out = copy.deepcopy(model)
    for mod in out.modules():
        if type(mod) is FoldableConv2d:
            if is_padded(mod) and (mod.kernel_size, mod.padding, mod.stride) != ((3, 3), (1, 1), (1, 1)):
                raise ValueError(f"the band variant covers 3x3 convs with padding 1, stride 1, not {mod}")
            mod.__class__ = BandFoldableConv2d
            mod._band = {}
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


@torch.no_grad()
def max_diff(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    return float((a(x) - b(x)).abs().max())


@torch.no_grad()
def forward_ms(model: nn.Module, x: torch.Tensor, repeats: int) -> float:
    """CPU milliseconds of the fastest of ``repeats`` forward passes (after one warm-up pass): on a machine shared
    with other jobs, the pass least slowed by their use of the caches and cores."""
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
    band = band_copy(ours).eval()
    masked64 = copy.deepcopy(masked).double()  # surgery in float64: the proof that the function is kept
    x = torch.randn(4, *shape, generator=torch.Generator().manual_seed(seed))
    widths = [m.out_channels for m in ours.modules() if isinstance(m, nn.Conv2d)]
    same = widths == [m.out_channels for m in peer.modules() if isinstance(m, nn.Conv2d)]
    flops = count_flops(masked, shape)
    out: dict = {"description": description, "same_widths": same,
                 "filters": {"dense": sum(m.out_channels for m in masked.modules() if isinstance(m, nn.Conv2d)),
                             "shrunk": sum(widths)},
                 "params": {"dense": count_params(masked)["params"], "ours": count_params(ours)["params"],
                            "torch_pruning": count_params(peer)["params"]},
                 "flops_ratio": {"ours": round(flops / count_flops(ours, shape), 3),
                                 "torch_pruning": round(flops / count_flops(peer, shape), 3)},
                 "max_abs_diff_to_masked": {"ours_float64": max_diff(masked64, shrink(masked64).eval(), x.double()),
                                            "ours_float32": max_diff(masked, ours, x),
                                            "ours_band_float32": max_diff(masked, band, x),
                                            "torch_pruning_float32": max_diff(masked, peer, x)},
                 "max_abs_logit": float(masked(x).detach().abs().max()),
                 "batches": {}}
    for b in batches:
        xb = torch.randn(b, *shape, generator=torch.Generator().manual_seed(b))
        repeats = max(3, 30 // b)
        t = interleaved({n: (lambda m=m: forward_ms(m, xb, repeats))
                         for n, m in (("dense", masked), ("ours", ours), ("ours_band", band),
                                      ("torch_pruning", peer))}, reps)
        ratios = sorted(a / p for a, p in zip(t["ours"], t["torch_pruning"]))
        out["batches"][f"batch_{b}"] = {
            **{f"{n}_ms": round(statistics.median(v), 3) for n, v in t.items()},
            "ours_over_torch_pruning": round(median_ratio(t["ours"], t["torch_pruning"]), 3),
            "ours_over_torch_pruning_range": [round(ratios[0], 3), round(ratios[-1], 3)],
            "ours_band_over_torch_pruning": round(median_ratio(t["ours_band"], t["torch_pruning"]), 3),
            "speedup_ours": round(median_ratio(t["dense"], t["ours"]), 3)}
    out["target_met"] = all(r["ours_over_torch_pruning"] <= TARGET for r in out["batches"].values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--models", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    setup_threads(args.threads)
    record: dict = {"machine": machine(), "reps": args.reps, "seed": args.seed, "architectures": {}}
    for name in args.models:
        res = measure(name, tuple(args.batches), args.reps, args.seed)
        record["architectures"][name] = res
        diffs = res["max_abs_diff_to_masked"]
        print(f"{name}: {res['filters']['dense']} -> {res['filters']['shrunk']} filters, same widths as "
              f"Torch-Pruning: {res['same_widths']}; FLOPs ratio {res['flops_ratio']}; max |masked - shrunk|: "
              f"ours {diffs['ours_float32']:.2e} (float64 {diffs['ours_float64']:.2e}, border band "
              f"{diffs['ours_band_float32']:.2e}), Torch-Pruning "
              f"{diffs['torch_pruning_float32']:.2e}; largest |logit| {res['max_abs_logit']:.2f}")
        for b, r in res["batches"].items():
            print(f"  {b}: dense {r['dense_ms']} ms, ours {r['ours_ms']} ms, Torch-Pruning {r['torch_pruning_ms']} ms;"
                  f" ours / Torch-Pruning {r['ours_over_torch_pruning']} (range {r['ours_over_torch_pruning_range']}),"
                  f" speedup over dense {r['speedup_ours']}x; border-band variant {r['ours_band_ms']} ms, "
                  f"{r['ours_band_over_torch_pruning']} x Torch-Pruning")
        print(f"{name}: target (ours <= {TARGET} x Torch-Pruning at every batch) "
              f"{'met' if res['target_met'] else 'MISSED'}")
    print("saved", save(f"surgery_vs_torch_pruning_threads{args.threads}", record))


if __name__ == "__main__":
    main()
