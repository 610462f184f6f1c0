"""A fingerprint of a short MLP-chapter run, to prove that a speed change kept every number bit for bit.

Trains the chapter's dense, L2, L1 and unregularized runs (smoke sizes by default: 2,000 images, 2 epochs, pruning
ramp then frozen mask) and prints a SHA-256 over every final weight (bit pattern, so -0.0 differs from 0.0) and
every tracked dynamics value. Run it before and after an optimization; the digests must be equal.

    PRUNINGLIB_DATA=../shared/data python -m benchmarks.run_digest [--epochs 2] [--train-subset 2000]
"""
from __future__ import annotations

import argparse
import hashlib
import tempfile

import torch

from benchmarks.common import setup_threads
from pruninglib.config import MLPMnistConfig
from pruninglib.experiments import mlp_mnist


def digest(result: mlp_mnist.MLPResult) -> str:
    h = hashlib.sha256()
    for key in sorted(result.models):
        for name, t in sorted(result.models[key].state_dict().items()):
            h.update(f"{key}{name}".encode())
            h.update(t.detach().cpu().contiguous().view(torch.int32).numpy().tobytes())
    h.update(result.dynamics.to_csv(index=False, float_format="%.17g").encode())
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-subset", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    setup_threads(args.threads)
    with tempfile.TemporaryDirectory() as out:
        cfg = MLPMnistConfig(epochs=args.epochs, train_subset=args.train_subset, device="cpu", out_dir=out,
                             latency_batches=(1,))
        print(digest(mlp_mnist.run(cfg, progress=False)))


if __name__ == "__main__":
    main()
