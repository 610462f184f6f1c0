"""Configuration dataclasses: every hyperparameter lives here, with help text, validated on creation.

A chapter's papermill ``parameters`` cell is the flat view of one of these configs: every name in the cell is
a field of the chapter's config class (a test checks it), and ``Config.from_mapping`` builds the config from the
notebook's globals, raising :class:`ConfigError` before any work starts if a name or value is not allowed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

PROFILES = ("smoke", "quick", "paper")
REGULARIZERS = ("none", "l1", "l2")
PRUNE_FORMS = ("laplace", "gauss")
SCALES = ("std", "mean_abs", "median_abs")
OPTIMIZERS = ("sgd", "adam")


class ConfigError(ValueError):
    """A parameter was unknown or out of range. The message names the parameter, the value and what is allowed."""


def _help(text: str, default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING) -> Any:
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata={"help": text})
    return field(default=default, metadata={"help": text})


def check(ok: bool, name: str, value: Any, allowed: str) -> None:
    """Raise ConfigError naming ``name``, ``value`` and what is ``allowed`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"parameter {name!r} = {value!r} is not allowed: {allowed}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    check(value in choices, name, value, f"one of {', '.join(map(repr, choices))}")


def _check_int(name: str, value: Any, low: int) -> None:
    check(isinstance(value, int) and not isinstance(value, bool) and value >= low, name, value,
          f"an integer >= {low}")


def _check_float(name: str, value: Any, low: float, high: float, *, low_open: bool = False,
                 high_open: bool = False) -> None:
    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = is_num and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    check(ok, name, value, f"a number in {lo}{low}, {high}{hi}")


def _check_pruning(cfg: Any, n_weights: int, per_weight: str) -> None:
    """Checks shared by every chapter that prunes on a schedule: the variants and their coefficients, one target
    sparsity per prunable weight, each in [0, 1); a ramp inside training; a prune step interval; a chosen variant
    among those run."""
    check(isinstance(cfg.variants, tuple) and len(cfg.variants) > 0
          and all(v in REGULARIZERS for v in cfg.variants) and len(set(cfg.variants)) == len(cfg.variants),
          "variants", cfg.variants, f"distinct names from {', '.join(REGULARIZERS)}")
    for name in ("lambda_l2", "lambda_l1", "dense_weight_decay", "reg_after_ramp"):
        _check_float(name, getattr(cfg, name), 0.0, 1.0)
    check(isinstance(cfg.target_sparsity, tuple) and len(cfg.target_sparsity) == n_weights,
          "target_sparsity", cfg.target_sparsity, per_weight)
    for s in cfg.target_sparsity:
        _check_float("target_sparsity", s, 0.0, 1.0, high_open=True)
    _check_float("ramp_start", cfg.ramp_start, 0.0, 1.0)
    _check_float("ramp_end", cfg.ramp_end, 0.0, 1.0)
    check(cfg.ramp_end > cfg.ramp_start, "ramp_end", cfg.ramp_end,
          f"a fraction larger than ramp_start = {cfg.ramp_start}")
    _check_int("prune_every", cfg.prune_every, 1)
    check(cfg.chosen in cfg.variants, "chosen", cfg.chosen, f"one of the variants {cfg.variants}")


class ConfigBase:
    """Shared behaviour of the config dataclasses: building from a mapping, help text, hashing."""

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, strict: bool = False) -> Any:
        """Build the config from ``values``, keeping only the field names (a notebook's globals hold more).

        With ``strict=True`` any key that is not a field raises ConfigError (used for command-line overrides).
        """
        names = set(cls.field_names())
        if strict:
            for key in values:
                check(key in names, key, values[key], f"a parameter of {cls.__name__}: {', '.join(sorted(names))}")
        return cls(**{k: v for k, v in values.items() if k in names})  # type: ignore[call-arg]

    def _lists_to_tuples(self) -> None:
        """JSON, papermill and notebooks hand over lists; the frozen configs hold tuples."""
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def digest(self) -> str:
        """A short hash of the config: runs are named by it, and a checkpoint only resumes the same config."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class MLPMnistConfig(ConfigBase):
    """Parameters of the MLP/MNIST chapter (Ben-Guigui, Goldberger & Riklin-Raviv, stochastic weight pruning)."""

    profile: str = _help("name of the profile these values came from (smoke, quick, paper)", "smoke")
    seeds: tuple[int, ...] = _help("one run per seed for every variant; results report mean and std", (0,))
    widths: tuple[int, ...] = _help("MLP layer widths, input first, classes last", (784, 300, 100, 10))
    epochs: int = _help("training epochs per run", 2)
    batch_size: int = _help("mini-batch size", 128)
    optimizer: str = _help("sgd (momentum 0.9, Nesterov) or adam", "sgd")
    lr: float = _help("peak learning rate; cosine decay to 0 over all epochs", 0.1)
    train_subset: int = _help("use the first N training images; 0 means all 55,000 left after the validation split", 2000)
    val_size: int = _help("images held out from the MNIST training set for validation", 5000)
    variants: tuple[str, ...] = _help(
        "pruned runs to make, by regularizer: any of 'l2', 'l1', 'none' (a dense baseline always runs)",
        ("l2", "l1", "none"))
    lambda_l2: float = _help("L2 coefficient: penalty lambda/2 * ||w||^2, i.e. weight decay lambda", 5e-3)
    lambda_l1: float = _help("L1 coefficient: penalty lambda * ||w||_1", 1e-4)
    reg_after_ramp: float = _help("factor on lambda_l2 and lambda_l1 once the mask is frozen (after ramp_end); "
                                  "1 keeps the regularizer constant", 0.1)
    dense_weight_decay: float = _help("weight decay of the dense baseline", 5e-4)
    prune_form: str = _help("p(w) shape: laplace rho*exp(-|w|/tau) or gauss rho*exp(-w^2/(2 sigma^2))", "laplace")
    prune_scale: str = _help("per-layer scale tau/sigma from the surviving weights: std, mean_abs or median_abs",
                             "std")
    prune_factor: float = _help("tau (or sigma) is prune_factor times the layer scale; small: close to "
                                "magnitude pruning, large: close to uniform random pruning", 0.05)
    target_sparsity: tuple[float, ...] = _help(
        "final weight sparsity per linear layer (first hidden layer first), each in [0, 1)", (0.98, 0.95, 0.7))
    ramp_start: float = _help("fraction of training at which stochastic pruning starts", 0.0)
    ramp_end: float = _help("fraction of training at which the target sparsity is reached; the mask is then "
                            "frozen and training goes on", 0.5)
    prune_every: int = _help("stochastic pruning step every N optimizer steps (the paper: every step)", 1)
    chosen: str = _help("which pruned variant is physically shrunk and reported as the headline", "l2")
    sample_nodes: int = _help("nodes per layer whose fan-in norm trajectories are plotted", 12)
    latency_batches: tuple[int, ...] = _help("batch sizes at which latency is measured", (1, 64))
    device: str = _help("'auto' (GPU when there is one), 'cpu' or 'cuda'", "auto")
    data_root: str = _help("folder holding MNIST/raw; if empty, $PRUNINGLIB_DATA, then data/ in the repo", "")
    out_dir: str = _help("where results.json, dynamics.csv and the shrunk model are written", "runs/mlp_mnist")

    def __post_init__(self) -> None:
        self._lists_to_tuples()
        _check_choice("profile", self.profile, PROFILES)
        check(isinstance(self.seeds, tuple) and len(self.seeds) > 0
              and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds),
              "seeds", self.seeds, "a non-empty list of non-negative integers")
        check(isinstance(self.widths, tuple) and len(self.widths) >= 3
              and all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in self.widths),
              "widths", self.widths, "a list of at least 3 positive integers (input, hidden..., classes)")
        check(self.widths[0] == 784 and self.widths[-1] == 10, "widths", self.widths,
              "input width 784 and 10 classes for MNIST")
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_float("lr", self.lr, 0.0, 10.0, low_open=True)
        _check_int("train_subset", self.train_subset, 0)
        _check_int("val_size", self.val_size, 1)
        check(self.val_size < 60000, "val_size", self.val_size, "fewer than the 60,000 MNIST training images")
        _check_choice("prune_form", self.prune_form, PRUNE_FORMS)
        _check_choice("prune_scale", self.prune_scale, SCALES)
        _check_float("prune_factor", self.prune_factor, 0.0, 100.0, low_open=True)
        n_layers = len(self.widths) - 1
        _check_pruning(self, n_layers, f"one value per linear layer ({n_layers} for these widths)")
        _check_int("sample_nodes", self.sample_nodes, 0)
        check(isinstance(self.latency_batches, tuple) and len(self.latency_batches) > 0
              and all(isinstance(b, int) and b >= 1 for b in self.latency_batches),
              "latency_batches", self.latency_batches, "a non-empty list of positive integers")
        _check_choice("device", self.device, ("auto", "cpu", "cuda"))


@dataclass(frozen=True)
class CovidCNNConfig(ConfigBase):
    """Parameters of the COVID-19 chest X-ray chapter: a compact CNN, 50% of its channels removed (Ben-Guigui et
    al.'s fourth result), evaluated by stratified, patient-grouped k-fold cross-validation."""

    profile: str = _help("name of the profile these values came from (smoke, quick, paper)", "smoke")
    folds: int = _help("cross-validation folds (stratified by class, grouped by patient and file)", 2)
    fold_seed: int = _help("seed of the fold assignment (the same folds for every variant)", 0)
    seeds: tuple[int, ...] = _help("training seeds: one run per (variant, fold, seed)", (0,))
    image_size: int = _help("images are resized to image_size x image_size pixels (32 to 256)", 48)
    channels: tuple[int, ...] = _help("output channels of the conv blocks (valid 3x3 conv, BatchNorm, ReLU, "
                                      "2x2 max-pool), first block first", (8, 16, 16, 32))
    epochs: int = _help("training epochs per run (an epoch is class-balanced: the minority class is resampled)", 2)
    batch_size: int = _help("mini-batch size (small: more optimizer steps, hence more pruning steps)", 16)
    optimizer: str = _help("sgd (momentum 0.9, Nesterov) or adam", "sgd")
    lr: float = _help("peak learning rate; cosine decay to 0 over all epochs", 0.05)
    augment_shift: int = _help("random shift of training images, in pixels (0: none)", 2)
    augment_intensity: float = _help("random intensity scale 1 +- a and offset +- a of training images (0: none)",
                                     0.0)
    variants: tuple[str, ...] = _help(
        "pruned runs to make, by regularizer: any of 'l2', 'l1', 'none' (a dense baseline always runs)", ("l2",))
    lambda_l2: float = _help("L2 coefficient: penalty lambda/2 * ||w||^2 on the conv filters and the head", 0.1)
    lambda_l1: float = _help("L1 coefficient: penalty lambda * ||w||_1", 2e-3)
    reg_after_ramp: float = _help("factor on lambda_l2 and lambda_l1 once the mask is frozen (after ramp_end)", 0.1)
    penalize_bn_scale: bool = _help("also apply the regularizer to the BatchNorm scales (gamma), as the "
                                    "weight decay of an optimizer would; without it the scale invariance of "
                                    "BatchNorm shields channels from dying", False)
    dense_weight_decay: float = _help("L2 coefficient of the dense baseline, on the same schedule as the pruned "
                                      "runs (times reg_after_ramp after ramp_end); equal to lambda_l2 by default, "
                                      "so that dense and L2 differ only by the pruning", 0.1)
    prune_form: str = _help("p(w) shape: laplace rho*exp(-|w|/tau) or gauss rho*exp(-w^2/(2 sigma^2))", "laplace")
    prune_scale: str = _help("per-layer scale tau/sigma from the surviving weights: std, mean_abs or median_abs",
                             "std")
    prune_factor: float = _help("tau (or sigma) is prune_factor times the layer scale", 0.05)
    target_sparsity: tuple[float, ...] = _help(
        "final weight sparsity per prunable weight: one per conv block, then the linear head; each in [0, 1)",
        (0.5, 0.9, 0.97, 0.995, 0.98))
    ramp_start: float = _help("fraction of training at which stochastic pruning starts", 0.0)
    ramp_end: float = _help("fraction of training at which the target sparsity is reached; the mask is then "
                            "frozen and training goes on", 0.6)
    prune_every: int = _help("stochastic pruning step every N optimizer steps (the paper: every step)", 1)
    chosen: str = _help("which pruned variant is physically shrunk and reported as the headline", "l2")
    threshold: float = _help("probability of COVID-19 at or above which an image is called positive (fixed "
                             "before the run, not tuned; training is class-balanced)", 0.5)
    bootstrap: int = _help("bootstrap resamples for the confidence intervals of the pooled out-of-fold metrics",
                           200)
    ci_level: float = _help("confidence level of all intervals", 0.95)
    latency_batches: tuple[int, ...] = _help("batch sizes at which latency is measured", (1, 32))
    device: str = _help("'auto' (GPU when there is one), 'cpu' or 'cuda'", "auto")
    data_root: str = _help("folder holding covid-chestxray-dataset/ and SHA256SUMS; if empty, $PRUNINGLIB_DATA, "
                           "then data/ in the repo", "")
    out_dir: str = _help("where results.json, the tables and the shrunk models are written", "runs/covid_cnn")

    def __post_init__(self) -> None:
        from pruninglib.models.cnn import feature_size

        self._lists_to_tuples()
        _check_choice("profile", self.profile, PROFILES)
        _check_int("folds", self.folds, 2)
        check(self.folds <= 10, "folds", self.folds, "an integer from 2 to 10 (the subset has only 50 non-COVID "
                                                    "images)")
        _check_int("fold_seed", self.fold_seed, 0)
        check(isinstance(self.seeds, tuple) and len(self.seeds) > 0
              and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds),
              "seeds", self.seeds, "a non-empty list of non-negative integers")
        _check_int("image_size", self.image_size, 32)
        check(self.image_size <= 256, "image_size", self.image_size, "an integer from 32 to 256 (CPU budget)")
        check(isinstance(self.channels, tuple) and len(self.channels) >= 1
              and all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in self.channels),
              "channels", self.channels, "a non-empty list of positive integers")
        check(feature_size(self.image_size, len(self.channels)) >= 1, "image_size", self.image_size,
              f"a size that survives {len(self.channels)} blocks of valid 3x3 conv + 2x2 pooling (larger, or fewer "
              f"channels entries)")
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_float("lr", self.lr, 0.0, 10.0, low_open=True)
        _check_int("augment_shift", self.augment_shift, 0)
        check(self.augment_shift < self.image_size // 4, "augment_shift", self.augment_shift,
              f"an integer from 0 to {self.image_size // 4 - 1} (a quarter of image_size)")
        _check_float("augment_intensity", self.augment_intensity, 0.0, 1.0, high_open=True)
        check(isinstance(self.penalize_bn_scale, bool), "penalize_bn_scale", self.penalize_bn_scale,
              "true or false")
        _check_choice("prune_form", self.prune_form, PRUNE_FORMS)
        _check_choice("prune_scale", self.prune_scale, SCALES)
        _check_float("prune_factor", self.prune_factor, 0.0, 100.0, low_open=True)
        n = len(self.channels) + 1
        _check_pruning(self, n, f"one value per prunable weight: {n - 1} conv blocks and the head ({n} values)")
        _check_float("threshold", self.threshold, 0.0, 1.0, low_open=True, high_open=True)
        _check_int("bootstrap", self.bootstrap, 10)
        _check_float("ci_level", self.ci_level, 0.5, 1.0, high_open=True)
        check(isinstance(self.latency_batches, tuple) and len(self.latency_batches) > 0
              and all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in self.latency_batches),
              "latency_batches", self.latency_batches, "a non-empty list of positive integers")
        _check_choice("device", self.device, ("auto", "cpu", "cuda"))


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
        check(isinstance(self.seeds, tuple) and len(self.seeds) > 0
              and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds),
              "seeds", self.seeds, "a non-empty list of non-negative integers")
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
        _check_choice("prune_form", self.prune_form, PRUNE_FORMS)
        _check_choice("prune_scale", self.prune_scale, SCALES)
        _check_float("prune_factor", self.prune_factor, 0.0, 100.0, low_open=True)
        _check_float("ramp_start", self.ramp_start, 0.0, 1.0)
        _check_float("ramp_end", self.ramp_end, 0.0, 1.0)
        check(self.ramp_end > self.ramp_start, "ramp_end", self.ramp_end,
              f"a fraction larger than ramp_start = {self.ramp_start}")
        _check_int("prune_every", self.prune_every, 1)
        check(isinstance(self.bn_channels, tuple) and 1 <= len(self.bn_channels) <= 3
              and all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in self.bn_channels),
              "bn_channels", self.bn_channels, "1 to 3 positive integers (28x28 images allow 3 blocks)")
        _check_int("bn_epochs", self.bn_epochs, 1)
        _check_choice("device", self.device, ("auto", "cpu", "cuda"))


@dataclass(frozen=True)
class UNetDSBConfig(ConfigBase):
    """Parameters of the U-Net / DSB 2018 chapter: nuclei instance segmentation, 60% of the channels removed
    (Ben-Guigui et al.'s third result), on a fixed train/val/test split by image id."""

    profile: str = _help("name of the profile these values came from (smoke, quick, paper)", "smoke")
    seeds: tuple[int, ...] = _help("training seeds: one run per (variant, seed)", (0,))
    image_size: int = _help("every image (and its instance map) is resized to image_size x image_size (a multiple "
                            "of 2^depth, 32 to 256)", 32)
    max_images: int = _help("use the first N images of the archive (0: all 670)", 24)
    val_fraction: float = _help("fraction of the images in the validation split (tracked each epoch)", 0.15)
    test_fraction: float = _help("fraction of the images in the test split (every reported metric)", 0.15)
    split_seed: int = _help("seed of the split by image id (sha256 of seed and id orders the ids)", 0)
    depth: int = _help("U-Net depth: number of 2x2 poolings (1 to 5)", 2)
    base: int = _help("channels of the first level; level i has base * 2^i", 4)
    batchnorm: bool = _help("BatchNorm after every conv but the head", True)
    epochs: int = _help("training epochs per run", 2)
    batch_size: int = _help("mini-batch size", 8)
    optimizer: str = _help("sgd (momentum 0.9, Nesterov) or adam", "sgd")
    lr: float = _help("peak learning rate; cosine decay to 0 over all epochs", 0.05)
    variants: tuple[str, ...] = _help(
        "pruned runs to make, by regularizer: any of 'l2', 'l1', 'none' (a dense baseline always runs)", ("l2", "l1"))
    lambda_l2: float = _help("L2 coefficient: penalty lambda/2 * ||w||^2 on the conv filters (and BN scales)", 0.05)
    lambda_l1: float = _help("L1 coefficient: penalty lambda * ||w||_1", 1e-3)
    reg_after_ramp: float = _help("factor on lambda_l2 and lambda_l1 once the mask is frozen (after ramp_end)", 0.1)
    penalize_bn_scale: bool = _help("also apply the regularizer to the BatchNorm scales (gamma): a channel whose "
                                    "gamma is driven to 0 no longer feeds the loss, so its filter only decays and "
                                    "is pruned whole", True)
    dense_weight_decay: float = _help("weight decay (L2 on the conv filters only, constant) of the dense baseline: "
                                      "plain training, so that the baseline is a full-width network (an L2 on the "
                                      "BN scales as strong as lambda_l2 collapses most of its channels too)", 5e-4)
    prune_form: str = _help("p(w) shape: laplace rho*exp(-|w|/tau) or gauss rho*exp(-w^2/(2 sigma^2))", "laplace")
    prune_scale: str = _help("per-layer scale tau/sigma from the surviving weights: std, mean_abs or median_abs",
                             "std")
    prune_factor: float = _help("tau (or sigma) is prune_factor times the layer scale", 0.05)
    target_sparsity: tuple[float, ...] = _help(
        "final weight sparsity per U-Net level (level 0 first, the bottleneck last; every conv of a level gets its "
        "level's value), then the head; depth + 2 values, each in [0, 1)", (0.8, 0.95, 0.99, 0.5))
    ramp_start: float = _help("fraction of training at which stochastic pruning starts", 0.0)
    ramp_end: float = _help("fraction of training at which the target sparsity is reached; the mask is then "
                            "frozen and training goes on", 0.6)
    prune_every: int = _help("stochastic pruning step every N optimizer steps (the paper: every step)", 1)
    chosen: str = _help("which pruned variant is the headline (its channel budget is given to the baseline)", "l2")
    baseline_norm: str = _help("channel-norm baseline: remove the channels of the dense net with the smallest "
                               "filter 'l2' or 'l1' norm, per block, as many as the chosen variant removed", "l2")
    finetune_epochs: int = _help("epochs of fine-tuning of the channel-norm baseline after removal (0: none)", 1)
    examples: int = _help("test images shown with ground truth, dense and shrunk predictions", 4)
    latency_batches: tuple[int, ...] = _help("batch sizes at which latency is measured", (1, 8))
    device: str = _help("'auto' (GPU when there is one), 'cpu' or 'cuda'", "auto")
    data_root: str = _help("folder holding dsb2018/stage1_train.tar.gz; if empty, $PRUNINGLIB_DATA, then data/ in "
                           "the repo", "")
    out_dir: str = _help("where results.json, the tables and the shrunk model are written", "runs/unet_dsb2018")

    def __post_init__(self) -> None:
        self._lists_to_tuples()
        _check_choice("profile", self.profile, PROFILES)
        check(isinstance(self.seeds, tuple) and len(self.seeds) > 0
              and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds),
              "seeds", self.seeds, "a non-empty list of non-negative integers")
        _check_int("depth", self.depth, 1)
        check(self.depth <= 5, "depth", self.depth, "an integer from 1 to 5")
        _check_int("base", self.base, 1)
        check(self.base <= 64, "base", self.base, "an integer from 1 to 64")
        _check_int("image_size", self.image_size, 32)
        check(self.image_size <= 256 and self.image_size % 2 ** self.depth == 0, "image_size", self.image_size,
              f"an integer from 32 to 256, a multiple of 2^depth = {2 ** self.depth}")
        _check_int("max_images", self.max_images, 0)
        check(self.max_images == 0 or 12 <= self.max_images <= 670, "max_images", self.max_images,
              "0 (all 670 images) or an integer from 12 to 670")
        _check_float("val_fraction", self.val_fraction, 0.05, 0.4)
        _check_float("test_fraction", self.test_fraction, 0.05, 0.4)
        _check_int("split_seed", self.split_seed, 0)
        check(isinstance(self.batchnorm, bool), "batchnorm", self.batchnorm, "true or false")
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_float("lr", self.lr, 0.0, 10.0, low_open=True)
        check(isinstance(self.penalize_bn_scale, bool), "penalize_bn_scale", self.penalize_bn_scale,
              "true or false")
        _check_choice("prune_form", self.prune_form, PRUNE_FORMS)
        _check_choice("prune_scale", self.prune_scale, SCALES)
        _check_float("prune_factor", self.prune_factor, 0.0, 100.0, low_open=True)
        n = self.depth + 2
        _check_pruning(self, n, f"one value per U-Net level (depth + 1 = {n - 1}) and one for the head ({n} values)")
        _check_choice("baseline_norm", self.baseline_norm, ("l2", "l1"))
        _check_int("finetune_epochs", self.finetune_epochs, 0)
        _check_int("examples", self.examples, 1)
        check(isinstance(self.latency_batches, tuple) and len(self.latency_batches) > 0
              and all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in self.latency_batches),
              "latency_batches", self.latency_batches, "a non-empty list of positive integers")
        _check_choice("device", self.device, ("auto", "cpu", "cuda"))


BASELINES = ("l1_norm", "slimming")


@dataclass(frozen=True)
class VGGCifarConfig(ConfigBase):
    """Parameters of the VGG-16 / CIFAR-10 chapter: 60% of the filters removed (Ben-Guigui et al.'s second result),
    with L1-norm filter pruning (Li et al. 2017) and network slimming (Liu et al. 2017) at the same filter budget."""

    profile: str = _help("name of the profile these values came from (smoke, quick, paper)", "smoke")
    seed: int = _help("seed of the initialisations, the batches and the pruning draws of every run", 0)
    width: float = _help("width multiplier of the VGG-16 channels (1 = 64 ... 512); in (0, 1]", 0.0625)
    train_subset: int = _help("use the first N training images left after the validation split; 0 means all "
                              "45,000", 256)
    val_size: int = _help("images held out from the 50,000 training images for validation", 128)
    test_subset: int = _help("use the first N of the 10,000 test images; 0 means all", 256)
    download: bool = _help("without cifar-10-batches-py/ on disk, let torchvision download the original batches "
                           "(needs the network); false: use the JPEG copy CIFAR-10/ of the data root", False)
    epochs: int = _help("training epochs of the dense, stochastic and slimming runs", 1)
    batch_size: int = _help("mini-batch size", 64)
    optimizer: str = _help("sgd (momentum 0.9, Nesterov) or adam", "sgd")
    lr: float = _help("peak learning rate; cosine decay to 0 over all epochs", 0.05)
    augment: bool = _help("random crop (zero padding 4) and horizontal flip of training batches, on the device",
                          True)
    variants: tuple[str, ...] = _help(
        "stochastic-pruning runs, by regularizer: any of 'l2', 'l1', 'none' (a dense baseline always runs)", ("l2",))
    lambda_l2: float = _help("L2 coefficient: penalty lambda/2 * ||w||^2 on the filters and the classifier", 0.05)
    lambda_l1: float = _help("L1 coefficient: penalty lambda * ||w||_1", 2e-3)
    reg_after_ramp: float = _help("factor on lambda_l2 and lambda_l1 once the mask is frozen (after ramp_end)", 0.1)
    penalize_bn_scale: bool = _help("also apply the regularizer to the BatchNorm scales (gamma), as the weight "
                                    "decay of an optimizer would", True)
    dense_weight_decay: float = _help("L2 coefficient of the dense baseline (and of the training and fine-tuning "
                                      "of the baselines), on the BatchNorm scales too", 5e-4)
    prune_form: str = _help("p(w) shape: laplace rho*exp(-|w|/tau) or gauss rho*exp(-w^2/(2 sigma^2))", "laplace")
    prune_scale: str = _help("per-layer scale tau/sigma from the surviving weights: std, mean_abs or median_abs",
                             "std")
    prune_factor: float = _help("tau (or sigma) is prune_factor times the layer scale", 0.05)
    target_sparsity: tuple[float, ...] = _help(
        "final weight sparsity per prunable weight: the 13 convolutions (conv1_1 first), then the classifier",
        (0.3, 0.5, 0.6, 0.6, 0.7, 0.7, 0.7, 0.9, 0.95, 0.95, 0.97, 0.97, 0.97, 0.9))
    ramp_start: float = _help("fraction of training at which stochastic pruning starts", 0.0)
    ramp_end: float = _help("fraction of training at which the target sparsity is reached; the mask is then "
                            "frozen and training goes on", 0.6)
    prune_every: int = _help("stochastic pruning step every N optimizer steps (the paper: every step)", 1)
    chosen: str = _help("the stochastic variant whose shrunk net is the headline and whose filter budget the "
                        "baselines get", "l2")
    baselines: tuple[str, ...] = _help("baselines at the filter budget of the chosen variant: any of 'l1_norm' (Li et "
                                       "al.: smallest-L1 filters of the dense net, per layer as many as the chosen "
                                       "variant lost) and 'slimming' (Liu et al.: L1 on BatchNorm scales, global "
                                       "threshold); each is fine-tuned", BASELINES)
    slimming_lambda: float = _help("L1 coefficient of network slimming on the BatchNorm scales", 1e-4)
    finetune_epochs: int = _help("fine-tuning epochs of each baseline after its filters are removed", 1)
    finetune_lr: float = _help("peak learning rate of fine-tuning (cosine to 0)", 0.01)
    sweep_fractions: tuple[float, ...] = _help(
        "fractions of filters removed at which both baselines are evaluated without fine-tuning (the accuracy "
        "curve), each in (0, 1)", (0.2, 0.4, 0.6))
    amp: bool = _help("on a GPU: bfloat16 autocast and channels_last (ignored on a CPU)", True)
    latency_batches: tuple[int, ...] = _help("batch sizes at which CPU latency is measured", (1, 64))
    device: str = _help("'auto' (GPU when there is one), 'cpu' or 'cuda'", "auto")
    data_root: str = _help("folder holding CIFAR-10/ (the JPEG copy) or cifar-10-batches-py/ and SHA256SUMS; if "
                           "empty, $PRUNINGLIB_DATA, then data/ in the repo", "")
    out_dir: str = _help("where results.json, the tables and the shrunk models are written", "runs/vgg_cifar10")

    def __post_init__(self) -> None:
        self._lists_to_tuples()
        _check_choice("profile", self.profile, PROFILES)
        _check_int("seed", self.seed, 0)
        _check_float("width", self.width, 0.0, 1.0, low_open=True)
        check(round(64 * self.width) >= 1, "width", self.width, "a multiplier >= 1/128 (at least one filter in "
                                                                "conv1_1)")
        _check_int("train_subset", self.train_subset, 0)
        _check_int("val_size", self.val_size, 1)
        check(self.val_size < 50000, "val_size", self.val_size, "fewer than the 50,000 CIFAR-10 training images")
        check(self.train_subset <= 50000 - self.val_size, "train_subset", self.train_subset,
              f"at most {50000 - self.val_size} (the training images left after val_size), or 0 for all")
        _check_int("test_subset", self.test_subset, 0)
        check(self.test_subset <= 10000, "test_subset", self.test_subset, "at most 10000, or 0 for all")
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_float("lr", self.lr, 0.0, 10.0, low_open=True)
        for name in ("download", "augment", "penalize_bn_scale", "amp"):
            check(isinstance(getattr(self, name), bool), name, getattr(self, name), "true or false")
        _check_choice("prune_form", self.prune_form, PRUNE_FORMS)
        _check_choice("prune_scale", self.prune_scale, SCALES)
        _check_float("prune_factor", self.prune_factor, 0.0, 100.0, low_open=True)
        _check_pruning(self, 14, "one value per prunable weight: 13 convolutions and the classifier (14 values)")
        check(isinstance(self.baselines, tuple) and all(b in BASELINES for b in self.baselines)
              and len(set(self.baselines)) == len(self.baselines), "baselines", self.baselines,
              f"distinct names from {', '.join(BASELINES)} (or none)")
        _check_float("slimming_lambda", self.slimming_lambda, 0.0, 1.0)
        _check_int("finetune_epochs", self.finetune_epochs, 0)
        _check_float("finetune_lr", self.finetune_lr, 0.0, 10.0, low_open=True)
        check(isinstance(self.sweep_fractions, tuple), "sweep_fractions", self.sweep_fractions, "a list of fractions")
        for f in self.sweep_fractions:
            _check_float("sweep_fractions", f, 0.0, 1.0, low_open=True, high_open=True)
        check(isinstance(self.latency_batches, tuple) and len(self.latency_batches) > 0
              and all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in self.latency_batches),
              "latency_batches", self.latency_batches, "a non-empty list of positive integers")
        _check_choice("device", self.device, ("auto", "cpu", "cuda"))


def _check_seeds(name: str, value: Any) -> None:
    check(isinstance(value, tuple) and len(value) > 0
          and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value),
          name, value, "a non-empty list of non-negative integers")


def _check_mnist_split(cfg: Any) -> None:
    _check_int("train_subset", cfg.train_subset, 0)
    _check_int("val_size", cfg.val_size, 1)
    check(cfg.val_size < 60000, "val_size", cfg.val_size, "fewer than the 60,000 MNIST training images")


def _check_common(cfg: Any) -> None:
    """profile, seeds, epochs, batch size, optimizer, lr, MNIST split, latency batches, device."""
    _check_choice("profile", cfg.profile, PROFILES)
    _check_seeds("seeds", cfg.seeds)
    _check_int("epochs", cfg.epochs, 1)
    _check_int("batch_size", cfg.batch_size, 1)
    _check_choice("optimizer", cfg.optimizer, OPTIMIZERS)
    _check_float("lr", cfg.lr, 0.0, 10.0, low_open=True)
    _check_mnist_split(cfg)
    check(isinstance(cfg.latency_batches, tuple) and len(cfg.latency_batches) > 0
          and all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in cfg.latency_batches),
          "latency_batches", cfg.latency_batches, "a non-empty list of positive integers")
    _check_choice("device", cfg.device, ("auto", "cpu", "cuda"))


@dataclass(frozen=True)
class RelevanceLeNetConfig(ConfigBase):
    """Parameters of the LeNet-5/MNIST chapter: Bonetta et al.'s relevance-weighted decay with gated crops."""

    profile: str = _help("name of the profile these values came from (smoke, quick, paper)", "smoke")
    seeds: tuple[int, ...] = _help("one regularized, cropped run per seed", (0,))
    dense_seeds: tuple[int, ...] = _help("seeds of the dense baseline runs (no penalty, no crops); empty: none",
                                         (0,))
    epochs: int = _help("training epochs per run (the authors: 120)", 1)
    batch_size: int = _help("mini-batch size (the authors: 100)", 100)
    optimizer: str = _help("adam (the authors') or sgd (momentum 0.9, Nesterov)", "adam")
    lr: float = _help("learning rate, constant (the authors: Adam 1e-3)", 1e-3)
    train_subset: int = _help("use the first N training images; 0 means all 55,000 left after the validation split",
                              1000)
    val_size: int = _help("images held out from the MNIST training set for the gate (the authors used the test "
                          "set)", 500)
    test_size: int = _help("evaluate on the first N test images; 0 means all 10,000", 500)
    gamma0: float = _help("penalty strength gamma right after a crop; decays linearly to 0 over one epoch", 1e-3)
    alpha: float = _help("relevance scale alpha in the scores exp(-abs(g) / alpha); the authors: 1", 1.0)
    tau: float = _help("crop fraction: share of the remaining weights removed at each crop, in (0, 1)", 0.04)
    bound: float = _help("validation accuracy (fraction) that must be EXCEEDED for a crop (the authors: 0.98)", 0.3)
    eval_every: int = _help("optimizer steps between gate evaluations (the authors: 250)", 2)
    latency_batches: tuple[int, ...] = _help("batch sizes at which latency is measured", (1, 64))
    device: str = _help("'auto' (GPU when there is one), 'cpu' or 'cuda'", "auto")
    data_root: str = _help("folder holding MNIST/raw; if empty, $PRUNINGLIB_DATA, then data/ in the repo", "")
    out_dir: str = _help("where results.json, crops.csv and the shrunk models are written", "runs/relevance_lenet5")

    def __post_init__(self) -> None:
        self._lists_to_tuples()
        _check_common(self)
        _check_int("test_size", self.test_size, 0)
        check(self.test_size <= 10000, "test_size", self.test_size, "at most the 10,000 MNIST test images")
        check(isinstance(self.dense_seeds, tuple) and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                          for s in self.dense_seeds),
              "dense_seeds", self.dense_seeds, "a list of non-negative integers (may be empty)")
        _check_float("gamma0", self.gamma0, 0.0, 1.0)
        _check_float("alpha", self.alpha, 0.0, 1e6, low_open=True)
        _check_float("tau", self.tau, 0.0, 1.0, low_open=True, high_open=True)
        _check_float("bound", self.bound, 0.0, 1.0)
        _check_int("eval_every", self.eval_every, 1)


GUIDED_PHIS = ("l1", "l2sq", "group")


@dataclass(frozen=True)
class GuidedMLPConfig(ConfigBase):
    """Parameters of the guided-regularization chapter (our reconstruction of Sandu & Rafid) on the MLP/MNIST
    harness: guided vs unguided penalties, unit norms by index, accuracy vs units kept."""

    profile: str = _help("name of the profile these values came from (smoke, quick, paper)", "smoke")
    seeds: tuple[int, ...] = _help("one run per seed for every variant", (0,))
    widths: tuple[int, ...] = _help("MLP layer widths, input first, classes last", (784, 300, 100, 10))
    epochs: int = _help("training epochs per run", 1)
    batch_size: int = _help("mini-batch size", 128)
    optimizer: str = _help("sgd (momentum 0.9, Nesterov) or adam", "sgd")
    lr: float = _help("peak learning rate; cosine decay to 0 over all epochs", 0.1)
    train_subset: int = _help("use the first N training images; 0 means all 55,000 left after the validation split",
                              1000)
    val_size: int = _help("images held out from the MNIST training set for validation", 1000)
    phis: tuple[str, ...] = _help("per-unit penalties phi to run, each guided and unguided: 'l1' (||w||_1), "
                                  "'l2sq' (||w||_2^2), 'group' (||w||_2); a run without penalty always runs",
                                  GUIDED_PHIS)
    lambda_l1: float = _help("lambda of the l1 variants (chosen on the validation split, 4 epochs, seed 0)", 1e-4)
    lambda_l2sq: float = _help("lambda of the l2sq variants (chosen likewise)", 2e-3)
    lambda_group: float = _help("lambda of the group variants (chosen likewise)", 5e-3)
    guidance: str = _help("coefficients of the guided variants, scaled to mean 1 per layer: 'linear' c_j ~ (j+1)/n, "
                          "'exp' c_j ~ exp(kappa ((j+1)/n - 1))", "linear")
    kappa: float = _help("growth rate of the 'exp' guidance (> 0)", 3.0)
    keep_fractions: tuple[float, ...] = _help("fractions of each hidden layer's units kept (largest fan-in norm) "
                                              "when measuring accuracy vs units kept, each in (0, 1]",
                                              (1.0, 0.5, 0.2, 0.1))
    chosen: str = _help("phi whose guided net, shrunk to chosen_keep, is saved and timed", "group")
    chosen_keep: float = _help("fraction of hidden units kept in the saved shrunk net and in the headline "
                               "comparisons (must be one of keep_fractions)", 0.2)
    latency_batches: tuple[int, ...] = _help("batch sizes at which latency is measured", (1, 64))
    device: str = _help("'auto' (GPU when there is one), 'cpu' or 'cuda'", "auto")
    data_root: str = _help("folder holding MNIST/raw; if empty, $PRUNINGLIB_DATA, then data/ in the repo", "")
    out_dir: str = _help("where results.json, norms.csv, kept.csv and the shrunk models are written",
                         "runs/guided_mlp")

    def __post_init__(self) -> None:
        self._lists_to_tuples()
        _check_common(self)
        check(isinstance(self.widths, tuple) and len(self.widths) >= 3
              and all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in self.widths)
              and self.widths[0] == 784 and self.widths[-1] == 10, "widths", self.widths,
              "at least 3 positive integers, input width 784 and 10 classes for MNIST")
        check(isinstance(self.phis, tuple) and len(self.phis) > 0 and all(p in GUIDED_PHIS for p in self.phis)
              and len(set(self.phis)) == len(self.phis), "phis", self.phis,
              f"distinct names from {', '.join(GUIDED_PHIS)}")
        for name in ("lambda_l1", "lambda_l2sq", "lambda_group"):
            _check_float(name, getattr(self, name), 0.0, 1.0)
        _check_choice("guidance", self.guidance, ("linear", "exp"))
        _check_float("kappa", self.kappa, 0.0, 50.0, low_open=True)
        check(isinstance(self.keep_fractions, tuple) and len(self.keep_fractions) > 0, "keep_fractions",
              self.keep_fractions, "a non-empty list of fractions in (0, 1]")
        for f in self.keep_fractions:
            _check_float("keep_fractions", f, 0.0, 1.0, low_open=True)
        check(self.chosen in self.phis, "chosen", self.chosen, f"one of the phis {self.phis}")
        check(self.chosen_keep in self.keep_fractions, "chosen_keep", self.chosen_keep,
              f"one of keep_fractions {self.keep_fractions}")
