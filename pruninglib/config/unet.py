"""The config of the U-Net / DSB 2018 chapter."""
from __future__ import annotations

from dataclasses import dataclass

from pruninglib.config.base import _check_bool, _check_choice, _check_float, _check_int, _check_seed, _help, check
from pruninglib.config.groups import (BatchNormVariantsConfig, DataConfig, MeasurementConfig, OptimizerConfig,
                                      PruningConfig, RunConfig, SeedsConfig)


@dataclass(frozen=True)
class UNetDSBConfig(MeasurementConfig, PruningConfig, BatchNormVariantsConfig, OptimizerConfig, DataConfig,
                    SeedsConfig, RunConfig):
    """Parameters of the U-Net / DSB 2018 chapter: nuclei instance segmentation, 60% of the channels removed
    (Ben-Guigui et al.'s third result), on a fixed train/val/test split by image id."""

    out_dir: str = _help("where results.json, the tables and the shrunk model are written", "runs/unet_dsb2018")
    seeds: tuple[int, ...] = _help("training seeds: one run per (variant, seed)", (0,))
    data_root: str = _help("folder holding dsb2018/stage1_train.tar.gz; if empty, $PRUNINGLIB_DATA, then data/ in "
                           "the repo", "")
    epochs: int = _help("training epochs per run", 2)
    batch_size: int = _help("mini-batch size", 8)
    lr: float = _help("peak learning rate; cosine decay to 0 over all epochs", 0.05)
    lambda_l2: float = _help("L2 coefficient: penalty lambda/2 * ||w||^2 on the conv filters (and BN scales)", 0.05)
    lambda_l1: float = _help("L1 coefficient: penalty lambda * ||w||_1", 1e-3)
    variants: tuple[str, ...] = _help(
        "pruned runs to make, by regularizer: any of 'l2', 'l1', 'none' (a dense baseline always runs)", ("l2", "l1"))
    chosen: str = _help("which pruned variant is the headline (its channel budget is given to the baseline)", "l2")
    dense_weight_decay: float = _help("weight decay (L2 on the conv filters only, constant) of the dense baseline: "
                                      "plain training, so that the baseline is a full-width network (an L2 on the "
                                      "BN scales as strong as lambda_l2 collapses most of its channels too)", 5e-4)
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
    val_fraction: float = _help("fraction of the images in the validation split (tracked each epoch)", 0.15)
    test_fraction: float = _help("fraction of the images in the test split (every reported metric)", 0.15)
    split_seed: int = _help("seed of the split by image id (sha256 of seed and id orders the ids)", 0)
    depth: int = _help("U-Net depth: number of 2x2 poolings (1 to 5)", 2)
    base: int = _help("channels of the first level; level i has base * 2^i", 4)
    batchnorm: bool = _help("BatchNorm after every conv but the head", True)
    baseline_norm: str = _help("channel-norm baseline: remove the channels of the dense net with the smallest "
                               "filter 'l2' or 'l1' norm, per block, as many as the chosen variant removed", "l2")
    finetune_epochs: int = _help("epochs of fine-tuning of the channel-norm baseline after removal (0: none)", 1)
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
        _check_float("val_fraction", self.val_fraction, 0.05, 0.4)
        _check_float("test_fraction", self.test_fraction, 0.05, 0.4)
        _check_seed("split_seed", self.split_seed)
        _check_bool("batchnorm", self.batchnorm)
        _check_choice("baseline_norm", self.baseline_norm, ("l2", "l1"))
        _check_int("finetune_epochs", self.finetune_epochs, 0)
        _check_int("examples", self.examples, 1)
