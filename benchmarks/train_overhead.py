"""Per-step cost of pruninglib's training loop, as the MLP chapter uses it, over a plain PyTorch loop.

pruninglib: ``fit`` with StochasticPruning, the L2 penalty and a DynamicsTracker snapshot (train, val and test
splits, each on its default subsample of at most 5,000 images) once per epoch. Plain: the same MLP
784-300-100-10, batch 128, SGD (momentum 0.9, Nesterov) with ``weight_decay`` and the same cosine schedule. Each
repetition trains every variant for one epoch of the 55,000 MNIST training images from the same initialisation,
each right before or after a plain epoch (see :func:`paired`); the result is the median over repetitions of the
ratio of CPU times to that plain epoch's (see ``benchmarks.common.timed``). Two phases: *ramp* (pruning at every
step, as in the first half of the chapter's training) and *frozen* (the mask is reached at the first step and only
kept afterwards, as in the second half), each with and without the tracker, plus the steps in between (fit alone,
then with the penalty, then with the tracker), and the tracker on other subsample sizes (all 70,000 images, as
before the subsample; 2,000 per split).

    PRUNINGLIB_DATA=../shared/data python -m benchmarks.train_overhead [--reps 7] [--threads 1]
"""
from __future__ import annotations

import argparse
import math
import statistics
from typing import Callable

import torch
import torch.nn.functional as F

from benchmarks.common import machine, save, setup_threads, timed
from pruninglib.data import load_mnist
from pruninglib.models import MLP
from pruninglib.regularizers import penalty
from pruninglib.tracking import DynamicsTracker
from pruninglib.training import Callback, StochasticPruning, fit, make_optimizer

BATCH, LR, LAMBDA = 128, 0.1, 5e-3  # the chapter's batch size, learning rate and lambda_l2
TARGETS = (0.98, 0.95, 0.7)  # the chapter's target_sparsity


class EpochEndTracker(DynamicsTracker):
    """One snapshot per epoch, as in the chapter (21 snapshots in 20 epochs), not the extra one at fit start."""

    on_fit_start = Callback.on_fit_start


def model(seed: int = 0) -> MLP:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return MLP((784, 300, 100, 10))


def plain_epoch(data) -> None:  # type: ignore[no-untyped-def]
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=LR, momentum=0.9, nesterov=True, weight_decay=LAMBDA)
    total = math.ceil(len(data.train) / BATCH)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    m.train()
    for x, y in data.train.batches(BATCH, torch.Generator().manual_seed(0)):
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()


def pruninglib_epoch(data, penalty_on: bool = True, pruning: str | None = "ramp",  # type: ignore[no-untyped-def]
                     tracker: bool = True, tracked: int | None = 5000) -> None:
    """One epoch of ``fit``. pruning 'ramp': the schedule runs over the whole epoch (pruning at every step);
    'frozen': the targets are reached at the first step (one pruning step of 430), then the mask is only
    re-applied, as after ramp_end; None: no pruning. Without the penalty, the optimizer's weight decay does L2.
    ``tracked``: the tracker's subsample size per split (None: all images)."""
    m = model()
    callbacks: list[Callback] = []
    if pruning is not None:
        callbacks.append(StochasticPruning(m, TARGETS, start=0.0, end=1.0 if pruning == "ramp" else 1e-9,
                                           form="laplace", scale="std", factor=0.05, every=1,
                                           generator=torch.Generator().manual_seed(1)))
    if tracker:
        splits = {"train": data.train, "val": data.val, "test": data.test}
        callbacks.append(EpochEndTracker(splits, {"variant": "l2"}, max_examples=tracked))
    fit(m, data.train, epochs=1, batch_size=BATCH,
        optimizer=make_optimizer("sgd", m.parameters(), LR, weight_decay=0.0 if penalty_on else LAMBDA),
        generator=torch.Generator().manual_seed(0),
        penalty=(lambda mod, st: penalty("l2", mod.prunable().values(), LAMBDA)) if penalty_on else None,
        callbacks=callbacks, progress=False)


# name -> (what it adds, keyword arguments of pruninglib_epoch); "plain" is the reference of every ratio.
VARIANTS = {
    "fit": ("fit() alone, weight decay in SGD", dict(penalty_on=False, pruning=None, tracker=False)),
    "fit+penalty": ("the L2 penalty through autograd instead", dict(pruning=None, tracker=False)),
    "fit+penalty+tracker": ("one DynamicsTracker snapshot per epoch, 15,000 images", dict(pruning=None)),
    "fit+penalty+tracker, all": ("the same on all 70,000 images", dict(pruning=None, tracked=None)),
    "ramp, no tracker": ("stochastic pruning at every step", dict(pruning="ramp", tracker=False)),
    "ramp": ("the chapter's loop during the ramp", dict(pruning="ramp")),
    "frozen, no tracker": ("mask frozen, re-applied every step", dict(pruning="frozen", tracker=False)),
    "frozen": ("the chapter's loop after the ramp", dict(pruning="frozen")),
    "frozen, tracker 2,000": ("the same, tracker on 2,000 images per split", dict(pruning="frozen", tracked=2000)),
}


def paired(plain: Callable[[], float], fns: dict[str, Callable[[], float]],
           reps: int) -> dict[str, list[tuple[float, float]]]:
    """Per repetition and variant, (variant, plain) CPU times measured back to back, which of the two first
    alternating; the variants' order alternates too. A ratio of two runs seconds apart is far less exposed to
    the load of a shared machine, which changes over minutes, than one against a single plain run per repetition.
    """
    out: dict[str, list[tuple[float, float]]] = {n: [] for n in fns}
    for r in range(reps):
        for i, name in enumerate(list(fns) if r % 2 == 0 else list(fns)[::-1]):
            if (r + i) % 2:
                a = fns[name]()
                out[name].append((a, plain()))
            else:
                b = plain()
                out[name].append((fns[name](), b))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    setup_threads(args.threads)
    data = load_mnist(val_size=5000)
    steps = math.ceil(len(data.train) / BATCH)
    plain_epoch(data), pruninglib_epoch(data)  # warm-up
    fns = {name: (lambda kw=kw: timed(lambda: pruninglib_epoch(data, **kw))) for name, (_, kw) in VARIANTS.items()}
    t = paired(lambda: timed(lambda: plain_epoch(data)), fns, args.reps)
    plain_times = [b for pairs in t.values() for _, b in pairs]
    rows = {"plain": {"adds": "plain PyTorch loop", "ratio_to_plain": 1.0, "ratio_range": [1.0, 1.0],
                      "ms_per_step": round(1e3 * statistics.median(plain_times) / steps, 3)}}
    for name, pairs in t.items():
        ratios = sorted(a / b for a, b in pairs)
        rows[name] = {"adds": VARIANTS[name][0],
                      "ms_per_step": round(1e3 * statistics.median(a for a, _ in pairs) / steps, 3),
                      "ratio_to_plain": round(statistics.median(ratios), 3),
                      "ratio_range": [round(ratios[0], 3), round(ratios[-1], 3)]}
    print(f"{'variant':<27}{'ms/step':>9}{'x plain':>9}{'range':>14}  adds")
    for name, r in rows.items():
        lo, hi = r["ratio_range"]
        print(f"{name:<27}{r['ms_per_step']:>9.3f}{r['ratio_to_plain']:>9.3f}{f'{lo:.2f}-{hi:.2f}':>14}  {r['adds']}")
    record = {"machine": machine(), "reps": args.reps, "steps_per_epoch": steps, "batch": BATCH, "variants": rows,
              "times_s": {k: [[round(a, 4), round(b, 4)] for a, b in v] for k, v in t.items()}}
    print("saved", save(f"train_overhead_threads{args.threads}", record))


if __name__ == "__main__":
    main()
