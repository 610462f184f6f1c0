"""The config of the comparison chapter: every method on the MLP/MNIST and the VGG/CIFAR-10 harness, each with its
strength per harness (chosen on validation data by the probes of the chapter's paper profile)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from pruninglib.config.base import PROFILES, _check_choice, _check_float, _check_int, _check_names, _help, check
from pruninglib.config.groups import MNIST_SHAPE, DataConfig, MeasurementConfig, RunConfig, SeedsConfig
from pruninglib.config.vgg import CIFAR_SHAPE

SETTINGS = ("mlp", "vgg")
METHODS = ("dense", "stochastic_l2", "stochastic_l1", "magnitude_l2", "relevance", "guided", "group_lasso", "magnitude",
           "slimming")
INPUT_SHAPES = {"mlp": MNIST_SHAPE, "vgg": CIFAR_SHAPE}


@dataclass(frozen=True)
class ComparisonConfig(MeasurementConfig, DataConfig, SeedsConfig, RunConfig):
    """Parameters of the comparison chapter: the three papers' methods and four baselines on one harness per
    setting, with the same training budget (epochs, batches, optimizer, learning-rate schedule)."""

    out_dir: str = _help("where results.json, runs.csv and the tables are written", "runs/comparison")
    seeds: tuple[int, ...] = _help("one run per seed for every method and the dense baseline", (0,))
    data_root: str = _help("folder holding MNIST/ and CIFAR-10/; if empty, $PRUNINGLIB_DATA, then data/ in the repo",
                           "")
    settings: tuple[str, ...] = _help("harnesses to run: mlp (the MLP/MNIST chapter) and vgg (the VGG/CIFAR-10 "
                                      "chapter)", SETTINGS)
    mlp_profile: str = _help("profile of the MLP/MNIST chapter whose data, model, training budget and stochastic-"
                             "pruning settings the mlp harness uses", "smoke")
    vgg_profile: str = _help("profile of the VGG/CIFAR-10 chapter used likewise by the vgg harness", "smoke")
    methods: tuple[str, ...] = _help(
        "methods to run: " + ", ".join(METHODS) + " (dense is the reference; magnitude_l2 is the control of "
        "stochastic_l2: deterministic magnitude pruning with the same L2, schedule and frequency; slimming needs "
        "BatchNorm, so it runs on vgg only)", METHODS)
    mlp_lambda_l2: float = _help("stochastic_l2 and magnitude_l2 on the mlp harness: the L2 coefficient", 5e-3)
    vgg_lambda_l2: float = _help("stochastic_l2 and magnitude_l2 on the vgg harness: the L2 coefficient", 3e-2)
    mlp_lambda_l1: float = _help("stochastic_l1 on the mlp harness: the L1 coefficient", 1e-4)
    vgg_lambda_l1: float = _help("stochastic_l1 on the vgg harness: the L1 coefficient", 1e-4)
    mlp_relevance_gamma0: float = _help("relevance-weighted decay on the mlp harness: gamma right after a crop, "
                                        "decaying linearly to 0 over one epoch (Bonetta et al.)", 1e-3)
    vgg_relevance_gamma0: float = _help("relevance-weighted decay on the vgg harness: likewise", 1e-3)
    mlp_relevance_bound: float = _help("gated crop on the mlp harness: crop while validation accuracy exceeds this "
                                       "bound (Bonetta et al.'s B for MNIST)", 0.98)
    vgg_relevance_bound: float = _help("gated crop on the vgg harness: likewise", 0.5)
    relevance_alpha: float = _help("relevance-weighted decay: alpha in exp(-abs(g) / alpha), > 0", 1.0)
    relevance_tau: float = _help("gated crop: share of the remaining weights removed per crop, in (0, 1)", 0.04)
    relevance_eval_every: int = _help("gated crop: optimizer steps between gate evaluations", 50)
    mlp_group_lambda: float = _help("group lasso on the mlp harness: lambda of lambda * sum_j norm(W_j), applied "
                                    "as a proximal step", 1e-2)
    vgg_group_lambda: float = _help("group lasso on the vgg harness, with each filter's BatchNorm scale in its "
                                    "group", 5e-2)
    mlp_guided_lambda: float = _help("guided group penalty (our reconstruction of Sandu and Rafid) on the mlp "
                                     "harness: lambda, with linear guidance, applied as a proximal step", 2e-2)
    vgg_guided_lambda: float = _help("guided group penalty (our reconstruction) on the vgg harness", 5e-2)
    mlp_magnitude_scale: float = _help("magnitude + retraining on the mlp harness: factor on the chapter's target "
                                       "sparsities", 1.0)
    vgg_magnitude_scale: float = _help("magnitude + retraining on the vgg harness: likewise", 1.0)
    slimming_lambda: float = _help("network slimming: L1 coefficient on the BatchNorm scales", 1e-4)
    slimming_fraction: float = _help("network slimming: fraction of all filters removed by one global threshold "
                                     "on the BatchNorm scale, in (0, 1)", 0.2)
    finetune_fraction: float = _help("network slimming: share of the epochs used for fine-tuning after the removal "
                                     "(the epochs before it train with the L1 penalty), in (0, 1)", 0.25)
    probe_grids: str = _help("folder of the probe sweeps whose committed records the chapter shows, and whose "
                             "selected strengths it checks against its own (paper: grids/comparison/paper); empty: "
                             "none", "")
    tolerance: float = _help("accuracy drop (points) within which a method counts as keeping the dense accuracy: "
                             "in the probes' selection rule and when the findings name a winner", 1.0)

    latency_batches: tuple[int, ...] = _help("batch sizes at which CPU latency is measured", (1, 64))

    def input_shape(self) -> tuple[int, ...]:
        """The largest input example of the harnesses run (it bounds the latency batches)."""
        return max((INPUT_SHAPES[s] for s in self.settings), key=math.prod)

    def _check_chapter(self) -> None:
        _check_names("settings", self.settings, SETTINGS)
        _check_choice("mlp_profile", self.mlp_profile, PROFILES)
        _check_choice("vgg_profile", self.vgg_profile, PROFILES)
        _check_names("methods", self.methods, METHODS)
        _check_float("relevance_alpha", self.relevance_alpha, 0.0, 1e6, low_open=True)
        for name in ("relevance_tau", "slimming_fraction", "finetune_fraction"):
            _check_float(name, getattr(self, name), 0.0, 1.0, low_open=True, high_open=True)
        _check_int("relevance_eval_every", self.relevance_eval_every, 1)
        for setting in SETTINGS:
            for name in ("lambda_l2", "lambda_l1", "relevance_gamma0", "relevance_bound", "group_lambda",
                         "guided_lambda"):
                _check_float(f"{setting}_{name}", getattr(self, f"{setting}_{name}"), 0.0, 1.0)
            _check_float(f"{setting}_magnitude_scale", getattr(self, f"{setting}_magnitude_scale"), 0.0, 1.0,
                         low_open=True)
        _check_float("slimming_lambda", self.slimming_lambda, 0.0, 1.0)
        check(isinstance(self.probe_grids, str), "probe_grids", self.probe_grids, "a folder of the repository, or ''")
        _check_float("tolerance", self.tolerance, 0.0, 100.0)
