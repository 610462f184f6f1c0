"""The fields the chapters share, grouped by concern, each group with its validation.

A chapter config is a frozen dataclass whose bases are the groups it needs plus its own fields, so every field stays
a flat attribute (``cfg.epochs``, ``cfg.lambda_l2``: the names of the notebooks' parameters cells). A chapter that
needs another default or help text for a shared field redeclares that field in its class body (same name and type);
the field keeps its place and its group's validation. Groups:

* run: :class:`RunConfig` (profile, device, out_dir), :class:`SeedsConfig` (seeds);
* data: :class:`DataConfig` (data_root), :class:`SplitConfig` (train_subset, val_size of a held-out validation
  split), :class:`MnistDataConfig`;
* training: :class:`TrainingConfig` (epochs, batch_size, lr), :class:`OptimizerConfig` (+ optimizer);
* regularizer: :class:`RegularizerConfig` (lambda_l2, lambda_l1), :class:`VariantsConfig` (the regularizer variants
  of stochastic pruning, the headline variant, the dense baseline), :class:`BatchNormVariantsConfig`;
* pruning: :class:`PruningConfig` (the shape of p(w), the target sparsities and their ramp);
* measurement: :class:`MeasurementConfig` (latency batch sizes, bounded by the memory one input batch needs).

A dataclass orders the fields of its bases from the LAST base to the first, then its own; so chapters list their
bases last concern first, and the parameters cell reads run, data, training, regularizer, pruning, measurement, then
the chapter's own fields.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from pruninglib.config.base import (OPTIMIZERS, PROFILES, PRUNE_FORMS, REGULARIZERS, SCALES, ConfigBase, _check_bool,
                                    _check_choice, _check_float, _check_int, _check_names, _check_positive_ints,
                                    _check_seeds, _help, check)

LATENCY_INPUT_BYTES = 64 * 2 ** 20  # one latency batch of float32 inputs may take at most 64 MiB
MNIST_SHAPE = (1, 28, 28)


@dataclass(frozen=True)
class RunConfig(ConfigBase):
    """Which profile the values came from, where to compute and where to write."""

    profile: str = _help("name of the profile these values came from (smoke, quick, paper)", "smoke")
    device: str = _help("'auto' (GPU when there is one), 'cpu' or 'cuda'", "auto")
    out_dir: str = _help("where results.json and the tables are written", "runs")

    def _check_group(self) -> None:
        _check_choice("profile", self.profile, PROFILES)
        _check_choice("device", self.device, ("auto", "cpu", "cuda"))
        check(isinstance(self.out_dir, str) and self.out_dir != "", "out_dir", self.out_dir,
              "a folder path (a non-empty string)")


@dataclass(frozen=True)
class SeedsConfig(ConfigBase):
    """One run per seed."""

    seeds: tuple[int, ...] = _help("one run per seed", (0,))

    def _check_group(self) -> None:
        _check_seeds("seeds", self.seeds)


@dataclass(frozen=True)
class DataConfig(ConfigBase):
    """Where the data sets are; :meth:`input_shape` is the shape of one input example."""

    data_root: str = _help("folder holding the data sets; if empty, $PRUNINGLIB_DATA, then data/ in the repo", "")

    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input example (channels, height, width) of the chapter's networks."""
        raise NotImplementedError(f"{type(self).__name__} does not say its input shape")

    def _check_group(self) -> None:
        check(isinstance(self.data_root, str), "data_root", self.data_root,
              "a folder path (a string; empty: $PRUNINGLIB_DATA, then data/ in the repo)")


@dataclass(frozen=True)
class SplitConfig(DataConfig):
    """A validation split held out of the training images, and an optional subset of the rest."""

    dataset: ClassVar[str]
    train_images: ClassVar[int]

    train_subset: int = _help("use the first N training images; 0 means all left after the validation split", 0)
    val_size: int = _help("images held out from the training set for validation", 5000)

    def _check_group(self) -> None:
        _check_int("train_subset", self.train_subset, 0)
        _check_int("val_size", self.val_size, 1)
        n = self.train_images
        check(self.val_size < n, "val_size", self.val_size, f"fewer than the {n:,} {self.dataset} training images")
        check(self.train_subset <= n - self.val_size, "train_subset", self.train_subset,
              f"at most {n - self.val_size} (the training images left after val_size), or 0 for all")


@dataclass(frozen=True)
class MnistDataConfig(SplitConfig):
    """MNIST: 60,000 training images of 1x28x28."""

    dataset: ClassVar[str] = "MNIST"
    train_images: ClassVar[int] = 60000

    data_root: str = _help("folder holding MNIST/raw; if empty, $PRUNINGLIB_DATA, then data/ in the repo", "")
    train_subset: int = _help("use the first N training images; 0 means all 55,000 left after the validation split",
                              0)
    val_size: int = _help("images held out from the MNIST training set for validation", 5000)

    def input_shape(self) -> tuple[int, ...]:
        return MNIST_SHAPE


@dataclass(frozen=True)
class TrainingConfig(ConfigBase):
    """The training budget: epochs, mini-batch size, peak learning rate."""

    epochs: int = _help("training epochs per run", 1)
    batch_size: int = _help("mini-batch size", 128)
    lr: float = _help("peak learning rate; cosine decay to 0 over all epochs", 0.1)

    def _check_group(self) -> None:
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_float("lr", self.lr, 0.0, 10.0, low_open=True)


@dataclass(frozen=True)
class OptimizerConfig(TrainingConfig):
    """The training budget and the optimizer."""

    optimizer: str = _help("sgd (momentum 0.9, Nesterov) or adam", "sgd")

    def _check_group(self) -> None:
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)


@dataclass(frozen=True)
class RegularizerConfig(ConfigBase):
    """The coefficients of the L2 and L1 penalties."""

    lambda_l2: float = _help("L2 coefficient: penalty lambda/2 * ||w||^2", 5e-3)
    lambda_l1: float = _help("L1 coefficient: penalty lambda * ||w||_1", 1e-4)

    def _check_group(self) -> None:
        for name in ("lambda_l2", "lambda_l1"):
            _check_float(name, getattr(self, name), 0.0, 1.0)


@dataclass(frozen=True)
class VariantsConfig(RegularizerConfig):
    """The pruned runs, one per regularizer, the headline among them, and the dense baseline's weight decay.
    ``allowed_variants`` and ``pruned_variants`` are the chapter's vocabulary (a chapter may add controls)."""

    allowed_variants: ClassVar[tuple[str, ...]] = REGULARIZERS
    pruned_variants: ClassVar[tuple[str, ...]] = REGULARIZERS
    chosen_must_run: ClassVar[bool] = True  # False: a run may leave the headline variant out (a sweep point)

    variants: tuple[str, ...] = _help(
        "pruned runs to make, by regularizer: any of 'l2', 'l1', 'none' (a dense baseline always runs)", ("l2",))
    chosen: str = _help("which pruned variant is physically shrunk and reported as the headline", "l2")
    reg_after_ramp: float = _help("factor on lambda_l2 and lambda_l1 once the mask is frozen (after ramp_end)", 0.1)
    dense_weight_decay: float = _help("weight decay of the dense baseline", 5e-4)

    def _check_group(self) -> None:
        _check_names("variants", self.variants, self.allowed_variants)
        for name in ("dense_weight_decay", "reg_after_ramp"):
            _check_float(name, getattr(self, name), 0.0, 1.0)
        if self.chosen_must_run:
            check(self.chosen in self.variants, "chosen", self.chosen, f"one of the variants {self.variants}")
        else:
            check(self.chosen in self.pruned_variants, "chosen", self.chosen,
                  f"one of the pruned variants {self.pruned_variants}")


@dataclass(frozen=True)
class BatchNormVariantsConfig(VariantsConfig):
    """The variants of a network with BatchNorm: whether the regularizer also acts on the BatchNorm scales."""

    penalize_bn_scale: bool = _help("also apply the regularizer to the BatchNorm scales (gamma), as the weight "
                                    "decay of an optimizer would", True)

    def _check_group(self) -> None:
        _check_bool("penalize_bn_scale", self.penalize_bn_scale)


@dataclass(frozen=True)
class PruningConfig(ConfigBase):
    """Stochastic pruning (zeroing): the shape of p(w), the target sparsity per prunable weight and its ramp.

    :meth:`target_sparsity_layout` (the chapter's) says how many target sparsities its network needs.
    """

    prune_form: str = _help("p(w) shape: laplace rho*exp(-|w|/tau) or gauss rho*exp(-w^2/(2 sigma^2)); "
                            "magnitude: the deterministic control (the smallest surviving |w| die)", "laplace")
    prune_scale: str = _help("per-layer scale tau/sigma from the surviving weights: std, mean_abs or median_abs",
                             "std")
    prune_factor: float = _help("tau (or sigma) is prune_factor times the layer scale", 0.05)
    target_sparsity: tuple[float, ...] = _help("final weight sparsity per prunable weight, each in [0, 1)", ())
    ramp_start: float = _help("fraction of training at which stochastic pruning starts", 0.0)
    ramp_end: float = _help("fraction of training at which the target sparsity is reached; the mask is then "
                            "frozen and training goes on", 0.6)
    prune_every: int = _help("stochastic pruning step every N optimizer steps (the paper: every step)", 1)
    sparsity_scale: float = _help("factor on every target sparsity, the strength of the schedule (0.5 halves each "
                                  "target); each scaled target must stay below 1", 1.0)

    def target_sparsity_layout(self) -> tuple[int, str]:
        """How many target sparsities the chapter's network needs, and how to say so in an error message."""
        raise NotImplementedError(f"{type(self).__name__} does not say how many target sparsities it needs")

    def _check_group(self) -> None:
        _check_choice("prune_form", self.prune_form, PRUNE_FORMS)
        _check_choice("prune_scale", self.prune_scale, SCALES)
        _check_float("prune_factor", self.prune_factor, 0.0, 100.0, low_open=True)
        n, per_weight = self.target_sparsity_layout()
        check(isinstance(self.target_sparsity, tuple) and len(self.target_sparsity) == n,
              "target_sparsity", self.target_sparsity, per_weight)
        for s in self.target_sparsity:
            _check_float("target_sparsity", s, 0.0, 1.0, high_open=True)
        _check_float("ramp_start", self.ramp_start, 0.0, 1.0)
        _check_float("ramp_end", self.ramp_end, 0.0, 1.0)
        check(self.ramp_end > self.ramp_start, "ramp_end", self.ramp_end,
              f"a fraction larger than ramp_start = {self.ramp_start}")
        _check_int("prune_every", self.prune_every, 1)
        _check_float("sparsity_scale", self.sparsity_scale, 0.0, 10.0, low_open=True)
        top = max(self.target_sparsity, default=0.0)
        check(self.sparsity_scale * top < 1.0, "sparsity_scale", self.sparsity_scale,
              f"a factor that keeps every target below 1 (the largest target is {top}: below {1 / top:.4g})"
              if top > 0 else "a positive factor")

    def scaled_targets(self) -> tuple[float, ...]:
        """The target sparsities times :attr:`sparsity_scale`."""
        return tuple(self.sparsity_scale * t for t in self.target_sparsity)


@dataclass(frozen=True)
class MeasurementConfig(ConfigBase):
    """What is measured: the batch sizes at which the forward pass is timed, and whether the test split is read.

    A batch is drawn at once, so its inputs must fit in memory: one batch of float32 inputs (of the shape
    :meth:`DataConfig.input_shape` of the chapter, which every chapter with latency has) may take at most
    ``LATENCY_INPUT_BYTES`` (64 MiB), e.g. 21,399 MNIST images.
    """

    latency_batches: tuple[int, ...] = _help("batch sizes at which latency is measured", (1, 64))
    evaluate_test: bool = _help("evaluate on the test split; false for tuning and study runs, which then report "
                                "validation metrics only and never read the test split", True)

    def _check_group(self) -> None:
        _check_bool("evaluate_test", self.evaluate_test)
        _check_positive_ints("latency_batches", self.latency_batches, "a non-empty list of positive integers")
        shape = self.input_shape()  # type: ignore[attr-defined]  # from the chapter's DataConfig
        largest = LATENCY_INPUT_BYTES // (4 * math.prod(shape))
        check(max(self.latency_batches) <= largest, "latency_batches", self.latency_batches,
              f"batch sizes up to {largest} (one batch of {'x'.join(map(str, shape))} float32 inputs may take at "
              f"most 64 MiB)")
