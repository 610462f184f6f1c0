"""The config of the COVID-19 chest X-ray chapter."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from pruninglib.config.base import (ConfigError, _check_float, _check_int, _check_positive_ints, _check_seed,
                                    _check_weights, _help, check)
from pruninglib.config.groups import (BatchNormVariantsConfig, DataConfig, MeasurementConfig, OptimizerConfig,
                                      PruningConfig, RunConfig, SeedsConfig)


@dataclass(frozen=True)
class CovidCNNConfig(MeasurementConfig, PruningConfig, BatchNormVariantsConfig, OptimizerConfig, DataConfig,
                     SeedsConfig, RunConfig):
    """Parameters of the COVID-19 chest X-ray chapter: a compact CNN, 50% of its channels removed (Ben-Guigui et
    al.'s fourth result), evaluated by stratified, patient-grouped k-fold cross-validation, nested: every setting is
    chosen on inner folds of an outer fold's training part (``evaluate_test`` false), and only final runs read the
    outer test folds."""

    allowed_variants: ClassVar[tuple[str, ...]] = ("dense", "l2", "l1", "none")
    pruned_variants: ClassVar[tuple[str, ...]] = ("l2", "l1", "none")
    tuned: ClassVar[tuple[str, ...]] = ("image_size", "channels", "augment_shift", "augment_intensity", "epochs")
    # A tuning or study point may leave the chosen variant out; a final run must make it (_check_chapter).
    chosen_must_run: ClassVar[bool] = False

    out_dir: str = _help("where results.json, the tables and the shrunk models are written", "runs/covid_cnn")
    seeds: tuple[int, ...] = _help("training seeds: one run per (variant, fold, seed)", (0,))
    variants: tuple[str, ...] = _help(
        "runs to make: 'dense' (no pruning) and stochastic pruning with 'l2', 'l1' or 'none' (no regularizer)",
        ("dense", "l2"))
    data_root: str = _help("folder holding covid-chestxray-dataset/ and SHA256SUMS; if empty, $PRUNINGLIB_DATA, "
                           "then data/ in the repo", "")
    epochs: int = _help("training epochs per run (an epoch is class-balanced: the minority class is resampled)", 2)
    batch_size: int = _help("mini-batch size (small: more optimizer steps, hence more pruning steps)", 16)
    lr: float = _help("peak learning rate; cosine decay to 0 over all epochs", 0.05)
    lambda_l2: float = _help("L2 coefficient: penalty lambda/2 * ||w||^2 on the conv filters and the head", 0.1)
    lambda_l1: float = _help("L1 coefficient: penalty lambda * ||w||_1", 2e-3)
    dense_weight_decay: float = _help("L2 coefficient of the dense baseline, on the same schedule as the pruned "
                                      "runs (times reg_after_ramp after ramp_end); equal to lambda_l2 by default, "
                                      "so that dense and L2 differ only by the pruning", 0.1)
    penalize_bn_scale: bool = _help("also apply the regularizer to the BatchNorm scales (gamma), as the "
                                    "weight decay of an optimizer would; without it the scale invariance of "
                                    "BatchNorm shields channels from dying", False)
    target_sparsity: tuple[float, ...] = _help(
        "final weight sparsity per prunable weight: one per conv block, then the linear head; each in [0, 1)",
        (0.5, 0.9, 0.97, 0.995, 0.98))
    latency_batches: tuple[int, ...] = _help("batch sizes at which latency is measured", (1, 32))
    folds: int = _help("cross-validation folds (stratified by class, grouped by patient and file)", 2)
    fold_seed: int = _help("seed of the fold assignment (the same folds for every variant)", 0)
    inner_folds: int = _help("inner folds of each outer fold's training part (stratified, patient-grouped); a run "
                             "with evaluate_test false trains on the other inner folds and is measured on one", 3)
    inner_used: int = _help("inner folds measured per outer fold when evaluate_test is false, the first ones (0: "
                            "all)", 0)
    fold_settings: tuple[dict[str, Any], ...] = _help(
        "per outer fold, the settings chosen on its inner folds: a mapping of image_size, channels, augment_shift, "
        "augment_intensity or epochs per fold (empty: the values of this cell for every fold)", ())
    image_size: int = _help("images are resized to image_size x image_size pixels (32 to 256)", 48)
    channels: tuple[int, ...] = _help("output channels of the conv blocks (valid 3x3 conv, BatchNorm, ReLU, "
                                      "2x2 max-pool), first block first", (8, 16, 16, 32))
    augment_shift: int = _help("random shift of training images, in pixels (0: none)", 2)
    augment_intensity: float = _help("random intensity scale 1 +- a and offset +- a of training images (0: none)",
                                     0.0)
    threshold: float = _help("probability of COVID-19 at or above which an image is called positive (fixed "
                             "before the run, not tuned; training is class-balanced)", 0.5)
    bootstrap: int = _help("bootstrap resamples for the confidence intervals of the pooled out-of-fold metrics",
                           200)
    ci_level: float = _help("confidence level of all intervals", 0.95)

    def input_shape(self) -> tuple[int, ...]:
        return (1, self.image_size, self.image_size)

    def for_fold(self, fold: int) -> CovidCNNConfig:
        """The config of outer fold ``fold``: this one with the fold's entry of ``fold_settings`` applied."""
        if not self.fold_settings:
            return self
        return dataclasses.replace(self, **self.fold_settings[fold], fold_settings=())

    def target_sparsity_layout(self) -> tuple[int, str]:
        n = len(self.channels) + 1
        return n, f"one value per prunable weight: {n - 1} conv blocks and the head ({n} values)"

    def _check_chapter(self) -> None:
        from pruninglib.models.cnn import feature_size

        _check_int("folds", self.folds, 2, 10, " (the subset has only 50 non-COVID images)")
        _check_seed("fold_seed", self.fold_seed)
        _check_int("image_size", self.image_size, 32, 256, " (CPU budget)")
        _check_positive_ints("channels", self.channels, "a non-empty list of positive integers")
        check(feature_size(self.image_size, len(self.channels)) >= 1, "image_size", self.image_size,
              f"a size that survives {len(self.channels)} blocks of valid 3x3 conv + 2x2 pooling (larger, or fewer "
              f"channels entries)")
        _check_weights("channels", self.channels, sum(9 * a * b for a, b in zip((1, *self.channels), self.channels)))
        _check_int("augment_shift", self.augment_shift, 0)
        check(self.augment_shift < self.image_size // 4, "augment_shift", self.augment_shift,
              f"an integer from 0 to {self.image_size // 4 - 1} (a quarter of image_size)")
        _check_float("augment_intensity", self.augment_intensity, 0.0, 1.0, high_open=True)
        _check_float("threshold", self.threshold, 0.0, 1.0, low_open=True, high_open=True)
        _check_int("bootstrap", self.bootstrap, 10, 100_000, " (more cost time and memory after all the training)")
        _check_float("ci_level", self.ci_level, 0.5, 1.0, high_open=True)
        _check_int("inner_folds", self.inner_folds, 2, 5, " (an outer training part holds about 40 non-COVID images)")
        _check_int("inner_used", self.inner_used, 0, self.inner_folds, " (at most inner_folds; 0: all)")
        # (an unknown variant is named by the group check, after this one)
        known = isinstance(self.variants, tuple) and set(self.variants) <= set(self.allowed_variants)
        check(not (known and self.evaluate_test) or ("dense" in self.variants and self.chosen in self.variants),
              "variants", self.variants, f"'dense' and the chosen variant {self.chosen!r} among them when "
              "evaluate_test is true (a final run compares the chosen variant with the dense baseline)")
        self._check_fold_settings()

    def _check_fold_settings(self) -> None:
        """One mapping per outer fold, each naming only tuned fields; each fold's config must be valid itself."""
        value = self.fold_settings
        check(isinstance(value, tuple) and len(value) in (0, self.folds)
              and all(isinstance(s, dict) and set(s) <= set(self.tuned) for s in value), "fold_settings", value,
              f"empty, or one mapping per outer fold ({self.folds}) naming only {', '.join(self.tuned)}")
        for k in range(len(value)):
            try:
                self.for_fold(k)
            except ConfigError as exc:
                if not any(f"parameter '{name}'" in str(exc) for name in self.tuned):
                    raise  # not the fold's settings: a field of this config, named as it is
                raise ConfigError(f"parameter 'fold_settings' = {value!r} is not allowed: fold {k}: {exc}") from exc
