"""The config of the theory chapter."""
from __future__ import annotations

from dataclasses import dataclass

from pruninglib.config.base import _check_float, _check_int, _check_positive_ints, _check_weights, _help, check
from pruninglib.config.groups import (MnistDataConfig, PruningConfig, RegularizerConfig, RunConfig, SeedsConfig,
                                      TrainingConfig)


@dataclass(frozen=True)
class TheoryConfig(PruningConfig, RegularizerConfig, TrainingConfig, MnistDataConfig, SeedsConfig, RunConfig):
    """Parameters of the theory chapter "How L1 and L2 shape node pruning": single-weight update rules, the
    rescaling argument checked on random units and on trained 784-hidden-10 ReLU nets, BatchNorm's scale
    invariance on a small CNN, and what stochastic zeroing adds (MNIST subset)."""

    out_dir: str = _help("where results.json and the tidy tables are written", "runs/theory")
    seeds: tuple[int, ...] = _help("one training run per seed for every variant", (0,))
    train_subset: int = _help("first N MNIST training images (0: all 55,000 left after the validation split)", 500)
    epochs: int = _help("training epochs of every MLP run", 2)
    batch_size: int = _help("mini-batch size of every training run", 100)
    lr: float = _help("peak learning rate (SGD, Nesterov momentum 0.9, cosine decay to 0)", 0.1)
    lambda_l2: float = _help("L2 coefficient: penalty lambda/2 * ||w||^2 on both weight matrices", 0.02)
    lambda_l1: float = _help("L1 coefficient: penalty lambda * ||w||_1 on both weight matrices", 1e-4)
    target_sparsity: tuple[float, ...] = _help(
        "final weight sparsity of the stochastic zeroing runs: hidden layer, output layer; each in [0, 1)",
        (0.95, 0.7))
    ramp_start: float = _help("fraction of training at which stochastic zeroing starts", 0.0)
    ramp_end: float = _help("fraction of training at which the target sparsity is reached (mask frozen after)",
                            0.6)
    prune_every: int = _help("stochastic zeroing step every N optimizer steps", 1)
    scalar_w0: float = _help("starting value of the single weight in the update-rule demos", 1.0)
    scalar_lr: float = _help("learning rate eta of the single-weight demos", 0.1)
    scalar_lambda: float = _help("coefficient lambda of the single-weight demos (eta*lambda < 1)", 0.5)
    scalar_steps: int = _help("steps of the single-weight trajectories", 40)
    curvature: float = _help("a in the toy loss a/2 (w - w*)^2 whose minimiser each penalty shrinks", 1.0)
    pairs: int = _help("random (u, v) pairs on which the minimum over the rescaling c is computed numerically", 50)
    hidden: int = _help("hidden ReLU units of the 784-hidden-10 MLP", 32)
    dead_tol: float = _help("a unit is numerically dead when ||u|| ||v|| falls below dead_tol times its mean at "
                            "initialisation (exactly dead: all fan-in weights zero)", 1e-3)
    track_every: int = _help("record the norms of every unit every N optimizer steps", 5)
    bn_channels: tuple[int, ...] = _help("conv widths of the BatchNorm CNN (3x3 valid conv, BatchNorm, ReLU, "
                                         "2x2 max-pool per block; at most 3 blocks for 28x28 MNIST)", (4, 8))
    bn_epochs: int = _help("training epochs of the BatchNorm CNN runs", 1)
    bn_lambda: float = _help("L2 coefficient of the L2 run of the BatchNorm CNN (conv filters and head)", 0.02)

    def target_sparsity_layout(self) -> tuple[int, str]:
        return 2, "two values: the hidden layer, then the output layer"

    def _check_chapter(self) -> None:
        _check_float("scalar_w0", self.scalar_w0, -100.0, 100.0)
        check(self.scalar_w0 != 0, "scalar_w0", self.scalar_w0, "a non-zero number in [-100.0, 100.0]")
        _check_float("scalar_lr", self.scalar_lr, 0.0, 1.0, low_open=True)
        _check_float("scalar_lambda", self.scalar_lambda, 0.0, 100.0)
        check(self.scalar_lr * self.scalar_lambda < 1, "scalar_lambda", self.scalar_lambda,
              f"scalar_lr * scalar_lambda < 1 (scalar_lr = {self.scalar_lr}), else the L2 step flips the sign")
        _check_int("scalar_steps", self.scalar_steps, 1)
        _check_float("curvature", self.curvature, 0.0, 100.0, low_open=True)
        check(self.scalar_lr * (self.curvature + self.scalar_lambda) < 2, "curvature", self.curvature,
              f"scalar_lr * (curvature + scalar_lambda) < 2 (scalar_lr = {self.scalar_lr}, scalar_lambda = "
              f"{self.scalar_lambda}), else gradient descent on the toy loss diverges")
        _check_int("pairs", self.pairs, 1)
        _check_int("hidden", self.hidden, 2)
        _check_weights("hidden", self.hidden, (784 + 10) * self.hidden)
        _check_float("bn_lambda", self.bn_lambda, 0.0, 1.0)
        _check_float("dead_tol", self.dead_tol, 0.0, 1.0, low_open=True, high_open=True)
        _check_int("track_every", self.track_every, 1)
        _check_positive_ints("bn_channels", self.bn_channels, "1 to 3 positive integers (28x28 images allow 3 blocks)",
                             max_len=3)
        _check_weights("bn_channels", self.bn_channels,
                       sum(9 * a * b for a, b in zip((1, *self.bn_channels), self.bn_channels)))
        _check_int("bn_epochs", self.bn_epochs, 1)
