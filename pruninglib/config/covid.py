"""The config of the COVID-19 chest X-ray chapter."""
from __future__ import annotations

from dataclasses import dataclass

from pruninglib.config.base import (_check_choice, _check_float, _check_int, _check_latency_device, _check_pruning,
                                    _check_seeds, _check_zeroing, _help, check, ConfigBase, OPTIMIZERS, PROFILES)


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
        _check_seeds("seeds", self.seeds)
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
        _check_zeroing(self)
        n = len(self.channels) + 1
        _check_pruning(self, n, f"one value per prunable weight: {n - 1} conv blocks and the head ({n} values)")
        _check_float("threshold", self.threshold, 0.0, 1.0, low_open=True, high_open=True)
        _check_int("bootstrap", self.bootstrap, 10)
        _check_float("ci_level", self.ci_level, 0.5, 1.0, high_open=True)
        _check_latency_device(self)
