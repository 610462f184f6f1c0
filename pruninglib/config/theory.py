"""The config of the theory chapter."""
from __future__ import annotations

from dataclasses import dataclass

from pruninglib.config.base import (_check_choice, _check_float, _check_int, _check_latency_device, _check_seeds,
                                    _check_zeroing, _help, check, ConfigBase, PROFILES)


@dataclass(frozen=True)
class TheoryConfig(ConfigBase):
    """Parameters of the theory chapter "How L1 and L2 shape node pruning": single-weight update rules, the
    rescaling argument checked on random units and on trained 784-hidden-10 ReLU nets, BatchNorm's scale
    invariance on a small CNN, and what stochastic zeroing adds (MNIST subset)."""

    profile: str = _help("name of the profile these values came from (smoke, quick, paper)", "smoke")
    seeds: tuple[int, ...] = _help("one training run per seed for every variant", (0,))
    scalar_w0: float = _help("starting value of the single weight in the update-rule demos", 1.0)
    scalar_lr: float = _help("learning rate eta of the single-weight demos", 0.1)
    scalar_lambda: float = _help("coefficient lambda of the single-weight demos (eta*lambda < 1)", 0.5)
    scalar_steps: int = _help("steps of the single-weight trajectories", 40)
    curvature: float = _help("a in the toy loss a/2 (w - w*)^2 whose minimiser each penalty shrinks", 1.0)
    pairs: int = _help("random (u, v) pairs on which the minimum over the rescaling c is computed numerically", 50)
    hidden: int = _help("hidden ReLU units of the 784-hidden-10 MLP", 32)
    train_subset: int = _help("first N MNIST training images (0: all 55,000 left after the validation split)", 500)
    val_size: int = _help("images held out from the MNIST training set for validation", 5000)
    epochs: int = _help("training epochs of every MLP run", 2)
    batch_size: int = _help("mini-batch size of every training run", 100)
    lr: float = _help("peak learning rate (SGD, Nesterov momentum 0.9, cosine decay to 0)", 0.1)
    lambda_l2: float = _help("L2 coefficient: penalty lambda/2 * ||w||^2 on both weight matrices", 0.02)
    lambda_l1: float = _help("L1 coefficient: penalty lambda * ||w||_1 on both weight matrices", 1e-4)
    dead_tol: float = _help("a unit is numerically dead when ||u|| ||v|| falls below dead_tol times its mean at "
                            "initialisation (exactly dead: all fan-in weights zero)", 1e-3)
    track_every: int = _help("record the norms of every unit every N optimizer steps", 5)
    target_sparsity: tuple[float, ...] = _help(
        "final weight sparsity of the stochastic zeroing runs: hidden layer, output layer; each in [0, 1)",
        (0.95, 0.7))
    prune_form: str = _help("p(w) shape: laplace rho*exp(-|w|/tau) or gauss rho*exp(-w^2/(2 sigma^2))", "laplace")
    prune_scale: str = _help("per-layer scale tau/sigma from the surviving weights: std, mean_abs or median_abs",
                             "std")
    prune_factor: float = _help("tau (or sigma) is prune_factor times the layer scale", 0.05)
    ramp_start: float = _help("fraction of training at which stochastic zeroing starts", 0.0)
    ramp_end: float = _help("fraction of training at which the target sparsity is reached (mask frozen after)",
                            0.6)
    prune_every: int = _help("stochastic zeroing step every N optimizer steps", 1)
    bn_channels: tuple[int, ...] = _help("conv widths of the BatchNorm CNN (3x3 valid conv, BatchNorm, ReLU, "
                                         "2x2 max-pool per block; at most 3 blocks for 28x28 MNIST)", (4, 8))
    bn_epochs: int = _help("training epochs of the BatchNorm CNN runs", 1)
    bn_lambda: float = _help("L2 coefficient of the L2 run of the BatchNorm CNN (conv filters and head)", 0.02)
    device: str = _help("'auto' (GPU when there is one), 'cpu' or 'cuda'", "auto")
    data_root: str = _help("folder holding MNIST/raw; if empty, $PRUNINGLIB_DATA, then data/ in the repo", "")
    out_dir: str = _help("where results.json and the tidy tables are written", "runs/theory")

    def __post_init__(self) -> None:
        self._lists_to_tuples()
        _check_choice("profile", self.profile, PROFILES)
        _check_seeds("seeds", self.seeds)
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
        _check_int("train_subset", self.train_subset, 0)
        _check_int("val_size", self.val_size, 1)
        check(self.val_size < 60000, "val_size", self.val_size, "fewer than the 60,000 MNIST training images")
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_float("lr", self.lr, 0.0, 10.0, low_open=True)
        for name in ("lambda_l2", "lambda_l1", "bn_lambda"):
            _check_float(name, getattr(self, name), 0.0, 1.0)
        _check_float("dead_tol", self.dead_tol, 0.0, 1.0, low_open=True, high_open=True)
        _check_int("track_every", self.track_every, 1)
        check(isinstance(self.target_sparsity, tuple) and len(self.target_sparsity) == 2,
              "target_sparsity", self.target_sparsity, "two values: the hidden layer, then the output layer")
        for s in self.target_sparsity:
            _check_float("target_sparsity", s, 0.0, 1.0, high_open=True)
        _check_zeroing(self)
        _check_float("ramp_start", self.ramp_start, 0.0, 1.0)
        _check_float("ramp_end", self.ramp_end, 0.0, 1.0)
        check(self.ramp_end > self.ramp_start, "ramp_end", self.ramp_end,
              f"a fraction larger than ramp_start = {self.ramp_start}")
        _check_int("prune_every", self.prune_every, 1)
        check(isinstance(self.bn_channels, tuple) and 1 <= len(self.bn_channels) <= 3
              and all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in self.bn_channels),
              "bn_channels", self.bn_channels, "1 to 3 positive integers (28x28 images allow 3 blocks)")
        _check_int("bn_epochs", self.bn_epochs, 1)
        _check_latency_device(self)
