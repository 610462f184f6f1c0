"""Chapter "How L1 and L2 shape node pruning": every claim of the derivations, computed.

The pure checks are in :mod:`.theory_math` and are computed at the end (``summarize``: single-weight trajectories,
shrinkage map, rescaling minima, curves and invariance); the trained runs are one per (variant, seed). Through the
shared runner it writes ``results.json`` (the claims as typed targets, the measured values under
``headline["measured"]``), ``units.csv`` (every hidden unit's norms every ``track_every`` steps: MLP runs and
BatchNorm CNN runs), ``bn_checks.csv`` (the BatchNorm invariance per CNN run), the pure tables
(``trajectories``, ``shrinkage``, ``minima``, ``curves``), ``deaths.csv`` and ``summary.csv`` (one row per run)
into ``cfg.out_dir``. Training runs are checkpointed per epoch, so re-running an interrupted command resumes them.

MLP variants (784-hidden-10, ReLU, MNIST subset): ``none``, ``l2``, ``l1`` (penalty only), ``zero`` (stochastic
zeroing only), ``zero+l2``, ``zero+l1``. CNN variants (BatchNorm after every conv): ``bn`` and ``bn+l2``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from pruninglib.config import TheoryConfig
from pruninglib.data import Dataset, load_mnist
from pruninglib.experiments import theory_math as tm
from pruninglib.experiments.common import seeded, stochastic_pruner
from pruninglib.experiments.runner import (ChapterResult, Context, Experiment, Measured, RunKey, Summary, Trained,
                                           run_experiment)
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


def _coefficient(cfg: TheoryConfig, variant: str) -> tuple[str, float]:
    """Regularizer name and lambda of an MLP or CNN variant."""
    return {"none": ("none", 0.0), "l2": ("l2", cfg.lambda_l2), "l1": ("l1", cfg.lambda_l1), "zero": ("none", 0.0),
            "zero+l2": ("l2", cfg.lambda_l2), "zero+l1": ("l1", cfg.lambda_l1), "bn": ("none", 0.0),
            "bn+l2": ("l2", cfg.bn_lambda)}[variant]


class TheoryExperiment(Experiment):
    """The MLP and BatchNorm CNN runs per seed, their tracked units, and every claim checked at the end."""

    name = "theory"

    def load(self, cfg: TheoryConfig, device: torch.device, progress: bool) -> Dataset:
        return load_mnist(cfg.data_root or None, val_size=cfg.val_size, train_subset=cfg.train_subset,
                          device=device)

    def runs(self, cfg: TheoryConfig, data: Dataset) -> list[RunKey]:
        return [RunKey(v, s) for s in cfg.seeds for v in (*MLP_VARIANTS, *BN_VARIANTS)]

    def train(self, cfg: TheoryConfig, data: Dataset, key: RunKey, ctx: Context) -> Trained:
        """One run; its ``units`` rows are every hidden unit's norms every ``track_every`` steps.

        Optimizer: SGD with Nesterov momentum 0.9 and cosine decay (the library's), so the penalty's step is
        w <- w - eta_t lambda w (L2) or w - eta_t lambda sign(w) (L1), accumulated by the momentum.
        """
        bn = key.variant.startswith("bn")
        with seeded(key.seed):
            model = (CNN(cfg.bn_channels, in_channels=1, classes=10) if bn else MLP((784, cfg.hidden, 10))).to(
                ctx.device)
        reg, lam = _coefficient(cfg, key.variant)
        tracker = UnitTracker(cfg.track_every, {})  # the runner adds the run's variant and seed
        callbacks: list[Any] = [tracker]
        if key.variant.startswith("zero"):
            callbacks.insert(0, stochastic_pruner(cfg, model, key.seed))
        epochs = cfg.bn_epochs if bn else cfg.epochs
        state = fit(model, data.train, epochs=epochs, batch_size=cfg.batch_size,
                    optimizer=make_optimizer("sgd", model.parameters(), cfg.lr),
                    generator=torch.Generator().manual_seed(key.seed),
                    penalty=lambda m, st: penalty(reg, m.prunable().values(), lam),  # type: ignore[operator]
                    callbacks=callbacks, checkpoint=ctx.checkpoint(key), desc=f"{key.variant} seed {key.seed}",
                    progress=ctx.progress)
        return Trained(model, [], state.resumed_from_epoch, epochs, {"units": tracker.rows})

    def measure(self, cfg: TheoryConfig, data: Dataset, key: RunKey, trained: Trained, ctx: Context) -> Measured:
        """Test accuracy and loss; a BatchNorm CNN's scale invariance on the first training batch (``bn_checks``)."""
        test = evaluate(trained.model, data.test)
        row = {"test_accuracy": test["accuracy"], "test_loss": test["loss"]}
        if not key.variant.startswith("bn"):
            return Measured(row)
        x, y = data.train.x[:cfg.batch_size], data.train.y[:cfg.batch_size]
        return Measured(row, tables={"bn_checks": [tm.bn_invariance(trained.model, x, y)]})

    def summarize(self, cfg: TheoryConfig, data: Dataset, table: pd.DataFrame, ctx: Context) -> Summary:
        """The pure computations, the death curves, and every claim (typed targets; measured values under
        ``measured``)."""
        gen = torch.Generator().manual_seed(cfg.seeds[0])
        trajectories = tm.scalar_trajectories(cfg.scalar_w0, cfg.scalar_lr, cfg.scalar_lambda, cfg.scalar_steps)
        shrinkage = tm.shrinkage_map(SHRINK_TARGETS, cfg.curvature, cfg.scalar_lr, cfg.scalar_lambda, SHRINK_STEPS)
        minima = tm.rescaling_minima(cfg.pairs, 784, 10, gen)
        example = [torch.randn(n, generator=gen, dtype=torch.float64).numpy() * s for n, s in ((784, 0.02),
                                                                                               (10, 0.05))]
        curves = tm.rescaling_curves(*example, np.logspace(-1.5, 1.5, 121))
        invariance = tm.rescaling_invariance((784, cfg.hidden, 10), 3.0, gen)
        units = pd.DataFrame(ctx.tables["units"])
        deaths = death_curves(units[~units["variant"].str.startswith("bn")], cfg.dead_tol)
        targets, measured = claims(cfg, trajectories, shrinkage, minima, invariance, units, deaths, table,
                                   pd.DataFrame(ctx.tables["bn_checks"]))
        headline = {"measured": measured, "test_accuracy": {v: [float(a) for a in g["test_accuracy"]]
                                                            for v, g in table.groupby("variant")}}
        return Summary(headline, targets, tables={"trajectories": trajectories, "shrinkage": shrinkage,
                                                  "minima": minima, "curves": curves, "deaths": deaths})


EXPERIMENT = TheoryExperiment()


def run(cfg: TheoryConfig, progress: bool = True) -> ChapterResult:
    """Run the chapter's computations (see module docstring)."""
    return run_experiment(EXPERIMENT, cfg, progress)
