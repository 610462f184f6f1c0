"""The config of the MLP / MNIST chapter."""
from __future__ import annotations

from dataclasses import dataclass

from pruninglib.config.base import (_check_choice, _check_float, _check_int, _check_latency_device, _check_pruning,
                                    _check_seeds, _check_zeroing, _help, check, ConfigBase, OPTIMIZERS, PROFILES)


@dataclass(frozen=True)
class MLPMnistConfig(ConfigBase):
    """Parameters of the MLP/MNIST chapter (Ben-Guigui, Goldberger & Riklin-Raviv, stochastic weight pruning)."""

    profile: str = _help("name of the profile these values came from (smoke, quick, paper)", "smoke")
    seeds: tuple[int, ...] = _help("one run per seed for every variant; results report mean and std", (0,))
    widths: tuple[int, ...] = _help("MLP layer widths, input first, classes last", (784, 300, 100, 10))
    epochs: int = _help("training epochs per run", 2)
    batch_size: int = _help("mini-batch size", 128)
    optimizer: str = _help("sgd (momentum 0.9, Nesterov) or adam", "sgd")
    lr: float = _help("peak learning rate; cosine decay to 0 over all epochs", 0.1)
    train_subset: int = _help("use the first N training images; 0 means all 55,000 left after the validation split", 2000)
    val_size: int = _help("images held out from the MNIST training set for validation", 5000)
    variants: tuple[str, ...] = _help(
        "pruned runs to make, by regularizer: any of 'l2', 'l1', 'none' (a dense baseline always runs)",
        ("l2", "l1", "none"))
    lambda_l2: float = _help("L2 coefficient: penalty lambda/2 * ||w||^2, i.e. weight decay lambda", 5e-3)
    lambda_l1: float = _help("L1 coefficient: penalty lambda * ||w||_1", 1e-4)
    reg_after_ramp: float = _help("factor on lambda_l2 and lambda_l1 once the mask is frozen (after ramp_end); "
                                  "1 keeps the regularizer constant", 0.1)
    dense_weight_decay: float = _help("weight decay of the dense baseline", 5e-4)
    prune_form: str = _help("p(w) shape: laplace rho*exp(-|w|/tau) or gauss rho*exp(-w^2/(2 sigma^2))", "laplace")
    prune_scale: str = _help("per-layer scale tau/sigma from the surviving weights: std, mean_abs or median_abs",
                             "std")
    prune_factor: float = _help("tau (or sigma) is prune_factor times the layer scale; small: close to "
                                "magnitude pruning, large: close to uniform random pruning", 0.05)
    target_sparsity: tuple[float, ...] = _help(
        "final weight sparsity per linear layer (first hidden layer first), each in [0, 1)", (0.98, 0.95, 0.7))
    ramp_start: float = _help("fraction of training at which stochastic pruning starts", 0.0)
    ramp_end: float = _help("fraction of training at which the target sparsity is reached; the mask is then "
                            "frozen and training goes on", 0.5)
    prune_every: int = _help("stochastic pruning step every N optimizer steps (the paper: every step)", 1)
    chosen: str = _help("which pruned variant is physically shrunk and reported as the headline", "l2")
    sample_nodes: int = _help("nodes per layer whose fan-in norm trajectories are plotted", 12)
    latency_batches: tuple[int, ...] = _help("batch sizes at which latency is measured", (1, 64))
    device: str = _help("'auto' (GPU when there is one), 'cpu' or 'cuda'", "auto")
    data_root: str = _help("folder holding MNIST/raw; if empty, $PRUNINGLIB_DATA, then data/ in the repo", "")
    out_dir: str = _help("where results.json, dynamics.csv and the shrunk model are written", "runs/mlp_mnist")

    def __post_init__(self) -> None:
        self._lists_to_tuples()
        _check_choice("profile", self.profile, PROFILES)
        _check_seeds("seeds", self.seeds)
        check(isinstance(self.widths, tuple) and len(self.widths) >= 3
              and all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in self.widths),
              "widths", self.widths, "a list of at least 3 positive integers (input, hidden..., classes)")
        check(self.widths[0] == 784 and self.widths[-1] == 10, "widths", self.widths,
              "input width 784 and 10 classes for MNIST")
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_float("lr", self.lr, 0.0, 10.0, low_open=True)
        _check_int("train_subset", self.train_subset, 0)
        _check_int("val_size", self.val_size, 1)
        check(self.val_size < 60000, "val_size", self.val_size, "fewer than the 60,000 MNIST training images")
        _check_zeroing(self)
        n_layers = len(self.widths) - 1
        _check_pruning(self, n_layers, f"one value per linear layer ({n_layers} for these widths)")
        _check_int("sample_nodes", self.sample_nodes, 0)
        _check_latency_device(self)
