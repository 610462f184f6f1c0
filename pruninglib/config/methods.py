"""The config of the method chapters (relevance-weighted decay, guided regularization)."""
from __future__ import annotations

from dataclasses import dataclass

from pruninglib.config.base import (_check_choice, _check_float, _check_int, _check_names, _check_seeds,
                                    _check_weights, _help, _is_int, check)
from pruninglib.config.groups import MeasurementConfig, MnistDataConfig, OptimizerConfig, RunConfig, SeedsConfig


@dataclass(frozen=True)
class RelevanceLeNetConfig(MeasurementConfig, OptimizerConfig, MnistDataConfig, SeedsConfig, RunConfig):
    """Parameters of the LeNet-5/MNIST chapter: Bonetta et al.'s relevance-weighted decay with gated crops, its
    crop-only ablation (the same gated crops with gamma0 = 0) and a dense reference."""

    out_dir: str = _help("where results.json, crops.csv and the shrunk models are written", "runs/relevance_lenet5")
    seeds: tuple[int, ...] = _help("one relevance run and one crop-only run (no decay) per seed", (0,))
    train_subset: int = _help("use the first N training images; 0 means all 55,000 left after the validation split",
                              1000)
    val_size: int = _help("images held out from the MNIST training set for the gate (the authors used the test "
                          "set)", 500)
    epochs: int = _help("training epochs per run (the authors: 120)", 1)
    batch_size: int = _help("mini-batch size (the authors: 100)", 100)
    lr: float = _help("learning rate, constant (the authors: Adam 1e-3)", 1e-3)
    optimizer: str = _help("adam (the authors') or sgd (momentum 0.9, Nesterov)", "adam")
    dense_seeds: tuple[int, ...] = _help("seeds of the dense baseline runs (no penalty, no crops); empty: none",
                                         (0,))
    test_size: int = _help("evaluate on the first N test images; 0 means all 10,000", 500)
    gamma0: float = _help("penalty strength gamma of the relevance runs right after a crop; decays linearly to 0 over "
                          "one epoch (the crop-only runs use 0)", 1e-3)
    alpha: float = _help("relevance scale alpha in the scores exp(-abs(g) / alpha); the authors: 1", 1.0)
    tau: float = _help("crop fraction: share of the remaining weights removed at each crop, in (0, 1)", 0.04)
    bound: float = _help("validation accuracy (fraction) that must be EXCEEDED for a crop (the authors: 0.98)", 0.3)
    eval_every: int = _help("optimizer steps between gate evaluations (the authors: 250)", 2)

    def _check_chapter(self) -> None:
        _check_int("test_size", self.test_size, 0)
        check(self.test_size <= 10000, "test_size", self.test_size, "at most the 10,000 MNIST test images")
        _check_seeds("dense_seeds", self.dense_seeds, empty_ok=True)
        _check_float("gamma0", self.gamma0, 0.0, 1.0)
        _check_float("alpha", self.alpha, 0.0, 1e6, low_open=True)
        _check_float("tau", self.tau, 0.0, 1.0, low_open=True, high_open=True)
        _check_float("bound", self.bound, 0.0, 1.0)
        _check_int("eval_every", self.eval_every, 1)


GUIDED_PHIS = ("l1", "l2sq", "group")


@dataclass(frozen=True)
class GuidedMLPConfig(MeasurementConfig, OptimizerConfig, MnistDataConfig, SeedsConfig, RunConfig):
    """Parameters of the guided-regularization chapter (our reconstruction of Sandu & Rafid) on the MLP/MNIST
    harness: guided vs unguided penalties, unit norms by index, accuracy vs units kept."""

    out_dir: str = _help("where results.json, norms.csv, kept.csv and the shrunk models are written",
                         "runs/guided_mlp")
    seeds: tuple[int, ...] = _help("one run per seed for every variant", (0,))
    train_subset: int = _help("use the first N training images; 0 means all 55,000 left after the validation split",
                              1000)
    val_size: int = _help("images held out from the MNIST training set for validation", 1000)
    widths: tuple[int, ...] = _help("MLP layer widths, input first, classes last", (784, 300, 100, 10))
    phis: tuple[str, ...] = _help("per-unit penalties phi to run, each guided and unguided: 'l1' (||w||_1), "
                                  "'l2sq' (||w||_2^2), 'group' (||w||_2); a run without penalty always runs",
                                  GUIDED_PHIS)
    lambda_l1: float = _help("lambda of the l1 variants, guided and unguided (paper: chosen on the validation split "
                             "by grids/guided_mlp/lambda_l1.yaml)", 1e-4)
    lambda_l2sq: float = _help("lambda of the l2sq variants (paper: grids/guided_mlp/lambda_l2sq.yaml)", 2e-3)
    lambda_group: float = _help("lambda of the group variants (paper: grids/guided_mlp/lambda_group.yaml)", 5e-3)
    guidance: str = _help("coefficients of the guided variants (fixed a priori, not tuned), scaled to mean 1 per "
                          "layer: 'linear' c_j ~ (j+1)/n, 'exp' c_j ~ exp(kappa ((j+1)/n - 1))", "linear")
    kappa: float = _help("growth rate of the 'exp' guidance (> 0)", 3.0)
    keep_fractions: tuple[float, ...] = _help("fractions of each hidden layer's units kept (largest fan-in norm) "
                                              "when measuring accuracy vs units kept, each in (0, 1]",
                                              (1.0, 0.5, 0.2, 0.1))
    chosen: str = _help("phi whose guided net, shrunk to chosen_keep, is saved and timed", "group")
    chosen_keep: float = _help("fraction of hidden units kept in the saved shrunk net and in the headline "
                               "comparisons (must be one of keep_fractions)", 0.2)

    def _check_chapter(self) -> None:
        check(isinstance(self.widths, tuple) and len(self.widths) >= 3
              and all(_is_int(w) and w >= 1 for w in self.widths)
              and self.widths[0] == 784 and self.widths[-1] == 10, "widths", self.widths,
              "at least 3 positive integers, input width 784 and 10 classes for MNIST")
        _check_weights("widths", self.widths, sum(a * b for a, b in zip(self.widths, self.widths[1:])))
        _check_names("phis", self.phis, GUIDED_PHIS)
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
