"""The config of the VGG-16 / CIFAR-10 chapter."""
from __future__ import annotations

from dataclasses import dataclass

from pruninglib.config.base import (_check_choice, _check_float, _check_int, _check_latency_device, _check_pruning,
                                    _check_zeroing, _help, check, ConfigBase, OPTIMIZERS, PROFILES)


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
        _check_zeroing(self)
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
        _check_latency_device(self)
