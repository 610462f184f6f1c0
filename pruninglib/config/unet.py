"""The config of the U-Net / DSB 2018 chapter."""
from __future__ import annotations

from dataclasses import dataclass

from pruninglib.config.base import (_check_choice, _check_float, _check_int, _check_latency_device, _check_pruning,
                                    _check_seeds, _check_zeroing, _help, check, ConfigBase, OPTIMIZERS, PROFILES)


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
        _check_seeds("seeds", self.seeds)
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
        _check_zeroing(self)
        n = self.depth + 2
        _check_pruning(self, n, f"one value per U-Net level (depth + 1 = {n - 1}) and one for the head ({n} values)")
        _check_choice("baseline_norm", self.baseline_norm, ("l2", "l1"))
        _check_int("finetune_epochs", self.finetune_epochs, 0)
        _check_int("examples", self.examples, 1)
        _check_latency_device(self)
