"""The config of the U-Net / DSB 2018 chapter."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pruninglib.config.base import _check_bool, _check_choice, _check_float, _check_int, _check_seed, _help, check
from pruninglib.config.groups import (BatchNormVariantsConfig, DataConfig, MeasurementConfig, OptimizerConfig,
                                      PruningConfig, RunConfig, SeedsConfig)


@dataclass(frozen=True)
class UNetDSBConfig(MeasurementConfig, PruningConfig, BatchNormVariantsConfig, OptimizerConfig, DataConfig,
                    SeedsConfig, RunConfig):
    """Parameters of the U-Net / DSB 2018 chapter: nuclei instance segmentation, 60% of the channels removed
    (Ben-Guigui et al.'s third result), on a fixed train/val/test split by image id or k folds over all images."""

    allowed_variants: ClassVar[tuple[str, ...]] = ("dense", "l2", "l1", "none", "norm", "norm-oneshot")
    pruned_variants: ClassVar[tuple[str, ...]] = ("l2", "l1", "none")
    chosen_must_run: ClassVar[bool] = False  # a sweep point runs one variant; its headline then has no shrunk net

    out_dir: str = _help("where results.json, the tables and the shrunk model are written", "runs/unet_dsb2018")
    seeds: tuple[int, ...] = _help("training seeds: one run per (variant, seed); with folds, one seed (the runs of "
                                   "a fold are paired by fold)", (0,))
    data_root: str = _help("folder holding dsb2018/stage1_train.tar.gz; if empty, $PRUNINGLIB_DATA, then data/ in "
                           "the repo", "")
    epochs: int = _help("training epochs per run", 2)
    batch_size: int = _help("mini-batch size", 8)
    lr: float = _help("peak learning rate; cosine decay to 0 over all epochs", 0.05)
    lambda_l2: float = _help("L2 coefficient: penalty lambda/2 * ||w||^2 on the conv filters (and BN scales)", 0.05)
    lambda_l1: float = _help("L1 coefficient: penalty lambda * ||w||_1", 1e-3)
    variants: tuple[str, ...] = _help(
        "runs to make: 'dense' (no pruning), stochastic pruning with 'l2', 'l1' or 'none' (no regularizer), and the "
        "channel-norm baselines at the chosen variant's channels per block: 'norm' (dense training with the same "
        "schedule; at ramp_end the smallest-norm filters are removed and training goes on: the chosen variant's "
        "total budget) and 'norm-oneshot' (removed from the finished dense net, no further training); the "
        "baselines after the chosen variant, 'norm-oneshot' after 'dense'",
        ("dense", "l2", "l1", "norm", "norm-oneshot"))
    chosen: str = _help("which pruned variant is the headline (its channel budget is given to the baselines)", "l2")
    dense_weight_decay: float = _help("weight decay (L2 on the conv filters only, constant) of the dense net and of "
                                      "the 'norm' baseline: plain training, so that dense is a full-width network "
                                      "(an L2 on the BN scales as strong as lambda_l2 collapses most of its channels "
                                      "too)", 5e-4)
    penalize_bn_scale: bool = _help("also apply the regularizer to the BatchNorm scales (gamma): a channel whose "
                                    "gamma is driven to 0 no longer feeds the loss, so its filter only decays and "
                                    "is pruned whole", True)
    target_sparsity: tuple[float, ...] = _help(
        "final weight sparsity per U-Net level (level 0 first, the bottleneck last; every conv of a level gets its "
        "level's value), then the head; depth + 2 values, each in [0, 1)", (0.8, 0.95, 0.99, 0.5))
    latency_batches: tuple[int, ...] = _help("batch sizes at which latency is measured", (1, 8))
    image_size: int = _help("every image (and its instance map) is resized to image_size x image_size (a multiple "
                            "of 2^depth, 32 to 256)", 32)
    max_images: int = _help("use the first N images of the archive (0: all 670)", 24)
    folds: int = _help("0: one split by image id into train, validation and test (test_fraction); k from 2 to 10: "
                       "k folds over all images, each held out once as the test part, a val_fraction of the images "
                       "taken from the rest for validation", 0)
    val_fraction: float = _help("fraction of the images in the validation split (tracked each epoch; the held-out "
                                "split of a run with evaluate_test false)", 0.15)
    test_fraction: float = _help("fraction of the images in the test split, when folds is 0", 0.15)
    split_seed: int = _help("seed of the split by image id (sha256 of seed and id orders the ids)", 0)
    depth: int = _help("U-Net depth: number of 2x2 poolings (1 to 5)", 2)
    base: int = _help("channels of the first level; level i has base * 2^i", 4)
    batchnorm: bool = _help("BatchNorm after every conv but the head", True)
    baseline_norm: str = _help("channel-norm baselines: remove the channels with the smallest filter 'l2' or 'l1' "
                               "norm, per block, as many as the chosen variant removed", "l2")
    examples: int = _help("test images shown with ground truth, dense and shrunk predictions", 4)

    def input_shape(self) -> tuple[int, ...]:
        return (1, self.image_size, self.image_size)

    def target_sparsity_layout(self) -> tuple[int, str]:
        n = self.depth + 2
        return n, f"one value per U-Net level (depth + 1 = {n - 1}) and one for the head ({n} values)"

    def _check_chapter(self) -> None:
        _check_int("depth", self.depth, 1, 5)
        _check_int("base", self.base, 1, 64)
        _check_int("image_size", self.image_size, 32)
        check(self.image_size <= 256 and self.image_size % 2 ** self.depth == 0, "image_size", self.image_size,
              f"an integer from 32 to 256, a multiple of 2^depth = {2 ** self.depth}")
        _check_int("max_images", self.max_images, 0)
        check(self.max_images == 0 or 12 <= self.max_images <= 670, "max_images", self.max_images,
              "0 (all 670 images) or an integer from 12 to 670")
        _check_int("folds", self.folds, 0, 10)
        check(self.folds != 1, "folds", self.folds, "0 (one split) or an integer from 2 to 10")
        check(not self.folds or len(self.seeds) == 1, "seeds", self.seeds,
              f"one seed when folds = {self.folds} (the runs of a fold are paired by fold)")
        check(not self.folds or self.evaluate_test, "evaluate_test", self.evaluate_test,
              "true when folds >= 2 (folds hold out every image once; a tuning run uses folds = 0 and its "
              "validation split)")
        _check_float("val_fraction", self.val_fraction, 0.05, 0.4)
        _check_float("test_fraction", self.test_fraction, 0.05, 0.4)
        _check_seed("split_seed", self.split_seed)
        _check_bool("batchnorm", self.batchnorm)
        _check_choice("baseline_norm", self.baseline_norm, ("l2", "l1"))
        _check_int("examples", self.examples, 1)
        v = self.variants
        for name in ("norm", "norm-oneshot"):
            if name in v:
                check(self.chosen in v and v.index(self.chosen) < v.index(name), "variants", v,
                      f"{name!r} after the chosen variant {self.chosen!r}, whose channels per block it removes")
        if "norm-oneshot" in v:
            check("dense" in v and v.index("dense") < v.index("norm-oneshot"), "variants", v,
                  "'norm-oneshot' after 'dense', whose finished net it prunes")
