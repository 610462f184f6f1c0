"""Chapter "How L1 and L2 shape node pruning": every claim of the derivations, computed.

The pure checks are in :mod:`.theory_math`; this module trains the small networks they are checked on, one run per
(variant, seed), and writes ``results.json`` (the claims with measured values), ``units.csv.gz`` (every hidden unit's
norms every ``track_every`` steps: MLP runs and BatchNorm CNN runs) and ``summary.csv`` (one row per run) into
``cfg.out_dir``. Training runs are checkpointed per epoch, so re-running an interrupted command resumes them.

MLP variants (784-hidden-10, ReLU, MNIST subset): ``none``, ``l2``, ``l1`` (penalty only), ``zero`` (stochastic
zeroing only), ``zero+l2``, ``zero+l1``. CNN variants (BatchNorm after every conv): ``bn`` and ``bn+l2``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from pruninglib._io import write_json
from pruninglib.config import TheoryConfig
from pruninglib.data import Dataset, load_mnist, pick_device
from pruninglib.experiments import theory_math as tm
from pruninglib.experiments.common import (RunRecord, checkpoint_dir, out_path, seeded, stochastic_pruner, timer,
                                           write_tables)
from pruninglib.experiments.theory_claims import claims, death_curves
from pruninglib.metrics import evaluate
from pruninglib.models import CNN, MLP
from pruninglib.regularizers import penalty
from pruninglib.tracking import UnitTracker
from pruninglib.training import fit, make_optimizer

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},  # the config defaults: seconds
    "quick": {"profile": "quick", "hidden": 128, "train_subset": 5000, "epochs": 15, "pairs": 500,
              "bn_channels": [16, 32], "bn_epochs": 4, "track_every": 25},
    "paper": {"profile": "paper", "seeds": [0, 1, 2], "hidden": 128, "train_subset": 10000, "epochs": 20,
              "pairs": 2000, "bn_channels": [16, 32], "bn_epochs": 5, "track_every": 25},
}
MLP_VARIANTS = ("none", "l2", "l1", "zero", "zero+l2", "zero+l1")
BN_VARIANTS = ("bn", "bn+l2")
SHRINK_TARGETS = np.linspace(-2.0, 2.0, 81)  # w* of the shrinkage map
SHRINK_STEPS = 400  # gradient steps to convergence on the toy loss (contraction 1 - eta*a per step)


@dataclass
class TheoryResult:
    """What the notebook shows: the JSON record, the single-weight tables, the random-unit minima, the per-run
    summary, every unit's tracked norms, and the death curves derived from them."""

    results: dict[str, Any]
    trajectories: pd.DataFrame
    shrinkage: pd.DataFrame
    minima: pd.DataFrame
    curves: pd.DataFrame
    summary: pd.DataFrame
    units: pd.DataFrame
    deaths: pd.DataFrame


def _coefficient(cfg: TheoryConfig, variant: str) -> tuple[str, float]:
    """Regularizer name and lambda of an MLP or CNN variant."""
    return {"none": ("none", 0.0), "l2": ("l2", cfg.lambda_l2), "l1": ("l1", cfg.lambda_l1), "zero": ("none", 0.0),
            "zero+l2": ("l2", cfg.lambda_l2), "zero+l1": ("l1", cfg.lambda_l1), "bn": ("none", 0.0),
            "bn+l2": ("l2", cfg.bn_lambda)}[variant]


def _train(cfg: TheoryConfig, data: Dataset, variant: str, seed: int, device: torch.device, checkpoint: str,
           progress: bool) -> tuple[nn.Module, list[dict[str, Any]], int | None]:
    """Train one run; returns the model, its unit rows and the epoch its checkpoint was resumed at (None: fresh).

    Optimizer: SGD with Nesterov momentum 0.9 and cosine decay (the library's), so the penalty's step is
    w <- w - eta_t lambda w (L2) or w - eta_t lambda sign(w) (L1), accumulated by the momentum.
    """
    bn = variant.startswith("bn")
    with seeded(seed):
        model = (CNN(cfg.bn_channels, in_channels=1, classes=10) if bn else MLP((784, cfg.hidden, 10))).to(device)
    reg, lam = _coefficient(cfg, variant)
    tracker = UnitTracker(cfg.track_every, {"variant": variant, "seed": seed})
    callbacks: list[Any] = [tracker]
    if variant.startswith("zero"):
        callbacks.insert(0, stochastic_pruner(cfg, model, seed))
    state = fit(model, data.train, epochs=cfg.bn_epochs if bn else cfg.epochs, batch_size=cfg.batch_size,
                optimizer=make_optimizer("sgd", model.parameters(), cfg.lr),
                generator=torch.Generator().manual_seed(seed),
                penalty=lambda m, st: penalty(reg, m.prunable().values(), lam),  # type: ignore[operator]
                callbacks=callbacks, checkpoint=checkpoint, desc=f"{variant} seed {seed}", progress=progress)
    return model, tracker.rows, state.resumed_from_epoch


def run(cfg: TheoryConfig, progress: bool = True) -> TheoryResult:
    """Run the chapter's computations (see module docstring)."""
    clock = timer()
    device = pick_device(cfg.device)
    gen = torch.Generator().manual_seed(cfg.seeds[0])
    trajectories = tm.scalar_trajectories(cfg.scalar_w0, cfg.scalar_lr, cfg.scalar_lambda, cfg.scalar_steps)
    shrinkage = tm.shrinkage_map(SHRINK_TARGETS, cfg.curvature, cfg.scalar_lr, cfg.scalar_lambda, SHRINK_STEPS)
    minima = tm.rescaling_minima(cfg.pairs, 784, 10, gen)
    example = [torch.randn(n, generator=gen, dtype=torch.float64).numpy() * s for n, s in ((784, 0.02), (10, 0.05))]
    curves = tm.rescaling_curves(*example, np.logspace(-1.5, 1.5, 121))
    invariance = tm.rescaling_invariance((784, cfg.hidden, 10), 3.0, gen)

    data = load_mnist(cfg.data_root or None, val_size=cfg.val_size, train_subset=cfg.train_subset, device=device)
    record = RunRecord("theory", cfg.profile, cfg.to_dict(), list(cfg.seeds), device, data.source)
    ckpt_dir = checkpoint_dir(cfg)
    x_bn, y_bn = data.train.x[:cfg.batch_size], data.train.y[:cfg.batch_size]
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    bn_checks: list[dict[str, Any]] = []
    resumed: list[dict[str, Any]] = []
    runs = [(v, s) for s in cfg.seeds for v in (*MLP_VARIANTS, *BN_VARIANTS)]
    for variant, seed in tqdm(runs, desc="runs", disable=not progress):
        model, run_rows, from_epoch = _train(cfg, data, variant, seed, device,
                                             str(ckpt_dir / f"{variant}-seed{seed}.pt"), progress)
        if from_epoch is not None:
            resumed.append({"variant": variant, "seed": seed, "from_epoch": from_epoch,
                            "epochs": cfg.bn_epochs if variant.startswith("bn") else cfg.epochs})
        rows += run_rows
        test = evaluate(model, data.test)
        summary.append({"variant": variant, "seed": seed, "test_accuracy": test["accuracy"],
                        "test_loss": test["loss"]})
        if variant.startswith("bn"):
            bn_checks.append({"variant": variant, "seed": seed, **tm.bn_invariance(model, x_bn, y_bn)})
    units = pd.DataFrame(rows)
    deaths = death_curves(units[~units["variant"].str.startswith("bn")], cfg.dead_tol)
    table = pd.DataFrame(summary)
    found = claims(cfg, trajectories, shrinkage, minima, invariance, units, deaths, table, pd.DataFrame(bn_checks))

    files = write_tables(cfg.out_dir, {"units.csv.gz": units, "summary.csv": table})
    results = {**record.to_dict(clock()), "targets": found["targets"], "measured": found["measured"],
               "test_accuracy": {v: [float(a) for a in g["test_accuracy"]] for v, g in table.groupby("variant")},
               "resumed_runs": resumed,
               "files": files}
    write_json(out_path(cfg.out_dir, "results.json"), results)
    return TheoryResult(results, trajectories, shrinkage, minima, curves, table, units, deaths)
