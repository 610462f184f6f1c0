"""The config of the MLP / MNIST chapter."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pruninglib.config.base import _check_int, _check_positive_ints, _check_weights, _help, check
from pruninglib.config.groups import (MeasurementConfig, MnistDataConfig, OptimizerConfig, PruningConfig, RunConfig,
                                      SeedsConfig, VariantsConfig)


@dataclass(frozen=True)
class MLPMnistConfig(MeasurementConfig, PruningConfig, VariantsConfig, OptimizerConfig, MnistDataConfig, SeedsConfig,
                     RunConfig):
    """Parameters of the MLP/MNIST chapter (Ben-Guigui, Goldberger & Riklin-Raviv, stochastic weight pruning)."""

    allowed_variants: ClassVar[tuple[str, ...]] = ("dense", "l2", "l1", "none", "magnitude", "magnitude-epoch",
                                                   "scratch")
    pruned_variants: ClassVar[tuple[str, ...]] = ("l2", "l1", "none", "magnitude", "magnitude-epoch")
    chosen_must_run: ClassVar[bool] = False  # a sweep point runs one variant; its headline then has no shrunk net

    out_dir: str = _help("where results.json, dynamics.csv and the shrunk model are written", "runs/mlp_mnist")
    seeds: tuple[int, ...] = _help("one run per seed for every variant; results report mean and std", (0,))
    train_subset: int = _help("use the first N training images; 0 means all 55,000 left after the validation split",
                              2000)
    epochs: int = _help("training epochs per run", 2)
    variants: tuple[str, ...] = _help(
        "runs to make: 'dense' (no pruning), stochastic pruning with 'l2', 'l1' or 'none' (no regularizer), the "
        "controls 'magnitude' and 'magnitude-epoch' (deterministic magnitude pruning with L2, on the same schedule, "
        "every prune_every steps or once per epoch) and 'scratch' (a dense net of the chosen variant's shrunk widths "
        "trained from scratch; after the chosen variant)", ("dense", "l2", "l1", "none"))
    lambda_l2: float = _help("L2 coefficient: penalty lambda/2 * ||w||^2, i.e. weight decay lambda", 5e-3)
    reg_after_ramp: float = _help("factor on lambda_l2 and lambda_l1 once the mask is frozen (after ramp_end); "
                                  "1 keeps the regularizer constant", 0.1)
    prune_factor: float = _help("tau (or sigma) is prune_factor times the layer scale; small: close to "
                                "magnitude pruning, large: close to uniform random pruning", 0.05)
    target_sparsity: tuple[float, ...] = _help(
        "final weight sparsity per linear layer (first hidden layer first), each in [0, 1)", (0.98, 0.95, 0.7))
    ramp_end: float = _help("fraction of training at which the target sparsity is reached; the mask is then "
                            "frozen and training goes on", 0.5)
    widths: tuple[int, ...] = _help("MLP layer widths, input first, classes last", (784, 300, 100, 10))
    sample_nodes: int = _help("nodes per layer whose fan-in norm trajectories are plotted", 12)

    def target_sparsity_layout(self) -> tuple[int, str]:
        n = len(self.widths) - 1
        return n, f"one value per linear layer ({n} for these widths)"

    def _check_chapter(self) -> None:
        _check_positive_ints("widths", self.widths,
                             "a list of at least 3 positive integers (input, hidden..., classes)", min_len=3)
        check(self.widths[0] == 784 and self.widths[-1] == 10, "widths", self.widths,
              "input width 784 and 10 classes for MNIST")
        _check_weights("widths", self.widths, sum(a * b for a, b in zip(self.widths, self.widths[1:])))
        _check_int("sample_nodes", self.sample_nodes, 0)
        if "scratch" in self.variants:
            check(self.chosen in self.variants and self.variants.index(self.chosen) < self.variants.index("scratch"),
                  "variants", self.variants, f"'scratch' after the chosen variant {self.chosen!r}, whose shrunk "
                  "widths it trains")
