"""Does removing nodes make the network faster in proportion to the FLOPs it saves? Dense vs shrunk CPU latency.

For every registered architecture (VGG-16 and the U-Net are timed against Torch-Pruning's surgery in
``surgery_vs_torch_pruning.py`` instead), a dense model and a model shrunk to given widths (or a shrunk MLP saved
by a run, ``--shrunk PATH``) are timed with :func:`pruninglib.metrics.latency` (median of
``--repeats`` forward passes) at batch 1 and batch 64, in alternating order over ``--reps`` repetitions. Reported:
the median over repetitions of dense/shrunk time (the speedup), next to the FLOPs ratio. Target: at batch 64 the
speedup is at least 0.8 x the FLOPs ratio.

    python -m benchmarks.shrunk_latency [--reps 9] [--threads 1] [--shrunk runs/paper/mlp_mnist/models/...pt]
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from benchmarks.common import interleaved, machine, median_ratio, save, setup_threads
from pruninglib.metrics import count_flops, count_params, latency
from pruninglib.models import CNN, MLP, MODELS, LeNet5, load_model

# name -> (dense model, shrunk model, input shape, where the shrunk widths come from). Every registered model needs
# an entry (checked below), so a new architecture is benchmarked when it is added.
ARCHITECTURES = {
    "mlp": (lambda: MLP((784, 300, 100, 10)), lambda: MLP((784, 121, 49, 10)), (1, 28, 28),
            "784-121-49-10: the shrunk L2 net of an earlier MLP/MNIST paper-profile run (seed 0)"),
    "lenet5": (lambda: LeNet5(), lambda: LeNet5((10, 25), 250), (1, 28, 28), "half of every layer's units"),
    "cnn": (lambda: CNN((16, 32, 64, 128)), lambda: CNN((16, 29, 57, 6)), (1, 64, 64),
            "the COVID chapter's CNN with about half of its channels removed, most of them in the last block"),
}
IN_SURGERY_BENCHMARK = {"vgg16", "unet"}
TARGET = 0.8  # speedup at batch 64 >= TARGET x FLOPs ratio


def measure(dense: nn.Module, shrunk: nn.Module, shape: tuple[int, ...], batches: tuple[int, ...], reps: int,
            repeats: int) -> dict:
    flops = count_flops(dense, shape) / count_flops(shrunk, shape)
    out = {"flops_ratio": round(flops, 3), "params": {"dense": count_params(dense)["params"],
                                                      "shrunk": count_params(shrunk)["params"]}, "batches": {}}
    for b in batches:
        t = interleaved({"dense": lambda: latency(dense, shape, b, repeats=repeats),
                         "shrunk": lambda: latency(shrunk, shape, b, repeats=repeats)}, reps)
        speedup = median_ratio(t["dense"], t["shrunk"])
        out["batches"][f"batch_{b}"] = {
            "dense_ms": round(sorted(t["dense"])[reps // 2], 4), "shrunk_ms": round(sorted(t["shrunk"])[reps // 2], 4),
            "speedup": round(speedup, 3), "speedup_over_flops_ratio": round(speedup / flops, 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--repeats", type=int, default=50, help="forward passes per latency measurement")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shrunk", default=None, help="a shrunk MLP saved by a run (pruninglib.save_model)")
    args = parser.parse_args()
    setup_threads(args.threads)
    missing = set(MODELS.names()) - set(ARCHITECTURES) - IN_SURGERY_BENCHMARK
    if missing:
        raise SystemExit(f"registered models without a benchmark entry: {sorted(missing)}")
    record: dict = {"machine": machine(), "reps": args.reps, "repeats": args.repeats, "architectures": {}}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        for name, (make_dense, make_shrunk, shape, source) in ARCHITECTURES.items():
            shrunk = load_model(args.shrunk) if (args.shrunk and name == "mlp") else make_shrunk()
            res = measure(make_dense().eval(), shrunk.eval(), shape, (1, 64), args.reps, args.repeats)
            res["shrunk_from"] = args.shrunk or source
            b64 = res["batches"]["batch_64"]
            res["target_met"] = b64["speedup_over_flops_ratio"] >= TARGET
            record["architectures"][name] = res
            for b, r in res["batches"].items():
                print(f"{name} {b}: dense {r['dense_ms']} ms, shrunk {r['shrunk_ms']} ms, speedup {r['speedup']}x, "
                      f"FLOPs ratio {res['flops_ratio']}x, speedup/FLOPs ratio {r['speedup_over_flops_ratio']}")
            verdict = "met" if res["target_met"] else "MISSED"
            print(f"{name}: target (batch 64 speedup >= {TARGET} x FLOPs ratio) {verdict}")
    print("saved", save(f"shrunk_latency_threads{args.threads}", record))


if __name__ == "__main__":
    main()
