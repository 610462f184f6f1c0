"""The config of the VGG-16 / CIFAR-10 chapter."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pruninglib.config.base import (_check_bool, _check_float, _check_int, _check_names, _check_seeds, _help,
                                    check)
from pruninglib.config.groups import (BatchNormVariantsConfig, MeasurementConfig, OptimizerConfig, PruningConfig,
                                      RunConfig, SplitConfig)

BASELINES = ("l1_norm", "slimming")
CIFAR_SHAPE = (3, 32, 32)


@dataclass(frozen=True)
class VGGCifarConfig(MeasurementConfig, PruningConfig, BatchNormVariantsConfig, OptimizerConfig, SplitConfig,
                     RunConfig):
    """Parameters of the VGG-16 / CIFAR-10 chapter: 60% of the filters removed (Ben-Guigui et al.'s second result),
    with L1-norm filter pruning (Li et al. 2017) and network slimming (Liu et al. 2017) at the same filter budget."""

    allowed_variants: ClassVar[tuple[str, ...]] = ("dense", "l2", "l1", "none")
    pruned_variants: ClassVar[tuple[str, ...]] = ("l2", "l1", "none")
    dataset: ClassVar[str] = "CIFAR-10"
    train_images: ClassVar[int] = 50000

    out_dir: str = _help("where results.json, the tables and the shrunk models are written", "runs/vgg_cifar10")
    data_root: str = _help("folder holding CIFAR-10/ (the JPEG copy) or cifar-10-batches-py/ and SHA256SUMS; if "
                           "empty, $PRUNINGLIB_DATA, then data/ in the repo", "")
    train_subset: int = _help("use the first N training images left after the validation split; 0 means all "
                              "45,000", 256)
    val_size: int = _help("images held out from the 50,000 training images for validation", 128)
    epochs: int = _help("training epochs of the dense, stochastic and slimming runs", 1)
    batch_size: int = _help("mini-batch size", 64)
    lr: float = _help("peak learning rate; cosine decay to 0 over all epochs", 0.05)
    lambda_l2: float = _help("L2 coefficient: penalty lambda/2 * ||w||^2 on the filters and the classifier", 0.05)
    lambda_l1: float = _help("L1 coefficient: penalty lambda * ||w||_1", 2e-3)
    variants: tuple[str, ...] = _help(
        "runs to make: 'dense' (no pruning; the targets and the L1-norm baseline need it) and stochastic pruning "
        "with 'l2', 'l1' or 'none' (no regularizer)", ("dense", "l2"))
    chosen: str = _help("the stochastic variant whose shrunk net is the headline and whose filter budget the "
                        "baselines get", "l2")
    dense_weight_decay: float = _help("L2 coefficient of the dense baseline (and of the training and fine-tuning "
                                      "of the baselines), on the BatchNorm scales too", 5e-4)
    target_sparsity: tuple[float, ...] = _help(
        "final weight sparsity per prunable weight: the 13 convolutions (conv1_1 first), then the classifier",
        (0.3, 0.5, 0.6, 0.6, 0.7, 0.7, 0.7, 0.9, 0.95, 0.95, 0.97, 0.97, 0.97, 0.9))
    latency_batches: tuple[int, ...] = _help("batch sizes at which CPU latency is measured", (1, 64))
    seeds: tuple[int, ...] = _help("seeds of the runs (each seeds the initialisation, the batches and the pruning "
                                   "draws): the dense run and the chosen variant run every seed", (0,))
    other_arms_seeds: int = _help("the other variants and the baselines run with the first N seeds (0: all)", 0)
    width: float = _help("width multiplier of the VGG-16 channels (1 gives 64 ... 512); in (0, 1]", 0.0625)
    test_subset: int = _help("use the first N of the 10,000 test images; 0 means all", 256)
    download: bool = _help("download the original batches into the cache when they are not on disk (needs the "
                           "network); false: only files on disk, the original archive or else the JPEG copy", True)
    augment: bool = _help("random crop (zero padding 4) and horizontal flip of training batches, on the device",
                          True)
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
    checkpoint_every: int = _help("save a run's checkpoint every N epochs and after the last one (a GPU job saves "
                                  "less often)", 1)
    from_records: str = _help("folder of a finished run's records (results.json and tables, or the bundle of the "
                              "GPU job) to render instead of training; empty: train", "")

    def input_shape(self) -> tuple[int, ...]:
        return CIFAR_SHAPE

    def arm_seeds(self, arm: str) -> tuple[int, ...]:
        """The seeds ``arm`` (a variant, 'dense' or a baseline) runs with: every seed for the dense run and the
        chosen variant, the first ``other_arms_seeds`` (0: all) for the others."""
        if arm in ("dense", self.chosen) or self.other_arms_seeds == 0:
            return self.seeds
        return self.seeds[:self.other_arms_seeds]

    def target_sparsity_layout(self) -> tuple[int, str]:
        return 14, "one value per prunable weight: 13 convolutions and the classifier (14 values)"

    def _check_chapter(self) -> None:
        _check_seeds("seeds", self.seeds)
        _check_int("other_arms_seeds", self.other_arms_seeds, 0, len(self.seeds), " (the number of seeds)")
        _check_float("width", self.width, 0.0, 1.0, low_open=True)
        check(round(64 * self.width) >= 1, "width", self.width, "a multiplier >= 1/128 (at least one filter in "
                                                                "conv1_1)")
        _check_int("test_subset", self.test_subset, 0)
        check(self.test_subset <= 10000, "test_subset", self.test_subset, "at most 10000, or 0 for all")
        for name in ("download", "augment", "amp"):
            _check_bool(name, getattr(self, name))
        _check_names("baselines", self.baselines, BASELINES, empty_ok=True, note=" (or none)")
        dense = isinstance(self.variants, tuple) and "dense" in self.variants
        check(dense or not self.evaluate_test, "variants", self.variants,
              "a list with 'dense' when evaluate_test is true (the targets compare with the dense net)")
        check(dense or "l1_norm" not in self.baselines, "variants", self.variants,
              "a list with 'dense' when the baselines include 'l1_norm' (it prunes the dense net)")
        _check_int("checkpoint_every", self.checkpoint_every, 1)
        check(isinstance(self.from_records, str), "from_records", self.from_records,
              "a folder path, or empty to train")
        _check_float("slimming_lambda", self.slimming_lambda, 0.0, 1.0)
        _check_int("finetune_epochs", self.finetune_epochs, 0)
        _check_float("finetune_lr", self.finetune_lr, 0.0, 10.0, low_open=True)
        check(isinstance(self.sweep_fractions, tuple), "sweep_fractions", self.sweep_fractions, "a list of fractions")
        for f in self.sweep_fractions:
            _check_float("sweep_fractions", f, 0.0, 1.0, low_open=True, high_open=True)
