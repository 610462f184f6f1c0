"""The machinery of every config: help text, validation helpers that name the parameter, the value and what is
allowed, and :class:`ConfigBase` (building from a mapping, digests, help)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import field
from typing import Any, Mapping

PROFILES = ("smoke", "quick", "paper")
REGULARIZERS = ("none", "l1", "l2")
PRUNE_FORMS = ("laplace", "gauss")
SCALES = ("std", "mean_abs", "median_abs")
OPTIMIZERS = ("sgd", "adam")


class ConfigError(ValueError):
    """A parameter was unknown or out of range. The message names the parameter, the value and what is allowed."""


def _help(text: str, default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING) -> Any:
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata={"help": text})
    return field(default=default, metadata={"help": text})


def check(ok: bool, name: str, value: Any, allowed: str) -> None:
    """Raise ConfigError naming ``name``, ``value`` and what is ``allowed`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"parameter {name!r} = {value!r} is not allowed: {allowed}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    check(value in choices, name, value, f"one of {', '.join(map(repr, choices))}")


def _check_int(name: str, value: Any, low: int) -> None:
    check(isinstance(value, int) and not isinstance(value, bool) and value >= low, name, value,
          f"an integer >= {low}")


def _check_float(name: str, value: Any, low: float, high: float, *, low_open: bool = False,
                 high_open: bool = False) -> None:
    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = is_num and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    check(ok, name, value, f"a number in {lo}{low}, {high}{hi}")


def _check_pruning(cfg: Any, n_weights: int, per_weight: str) -> None:
    """Checks shared by every chapter that prunes on a schedule: the variants and their coefficients, one target
    sparsity per prunable weight, each in [0, 1); a ramp inside training; a prune step interval; a chosen variant
    among those run."""
    check(isinstance(cfg.variants, tuple) and len(cfg.variants) > 0
          and all(v in REGULARIZERS for v in cfg.variants) and len(set(cfg.variants)) == len(cfg.variants),
          "variants", cfg.variants, f"distinct names from {', '.join(REGULARIZERS)}")
    for name in ("lambda_l2", "lambda_l1", "dense_weight_decay", "reg_after_ramp"):
        _check_float(name, getattr(cfg, name), 0.0, 1.0)
    check(isinstance(cfg.target_sparsity, tuple) and len(cfg.target_sparsity) == n_weights,
          "target_sparsity", cfg.target_sparsity, per_weight)
    for s in cfg.target_sparsity:
        _check_float("target_sparsity", s, 0.0, 1.0, high_open=True)
    _check_float("ramp_start", cfg.ramp_start, 0.0, 1.0)
    _check_float("ramp_end", cfg.ramp_end, 0.0, 1.0)
    check(cfg.ramp_end > cfg.ramp_start, "ramp_end", cfg.ramp_end,
          f"a fraction larger than ramp_start = {cfg.ramp_start}")
    _check_int("prune_every", cfg.prune_every, 1)
    check(cfg.chosen in cfg.variants, "chosen", cfg.chosen, f"one of the variants {cfg.variants}")


class ConfigBase:
    """Shared behaviour of the config dataclasses: building from a mapping, help text, hashing."""

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, strict: bool = False) -> Any:
        """Build the config from ``values``, keeping only the field names (a notebook's globals hold more).

        With ``strict=True`` any key that is not a field raises ConfigError (used for command-line overrides).
        """
        names = set(cls.field_names())
        if strict:
            for key in values:
                check(key in names, key, values[key], f"a parameter of {cls.__name__}: {', '.join(sorted(names))}")
        return cls(**{k: v for k, v in values.items() if k in names})  # type: ignore[call-arg]

    def _lists_to_tuples(self) -> None:
        """JSON, papermill and notebooks hand over lists; the frozen configs hold tuples."""
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def digest(self) -> str:
        """A short hash of the config: runs are named by it, and a checkpoint only resumes the same config."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]



def _check_seeds(name: str, value: Any) -> None:
    check(isinstance(value, tuple) and len(value) > 0
          and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value),
          name, value, "a non-empty list of non-negative integers")


def _check_mnist_split(cfg: Any) -> None:
    _check_int("train_subset", cfg.train_subset, 0)
    _check_int("val_size", cfg.val_size, 1)
    check(cfg.val_size < 60000, "val_size", cfg.val_size, "fewer than the 60,000 MNIST training images")


def _check_common(cfg: Any) -> None:
    """profile, seeds, epochs, batch size, optimizer, lr, MNIST split, latency batches, device."""
    _check_choice("profile", cfg.profile, PROFILES)
    _check_seeds("seeds", cfg.seeds)
    _check_int("epochs", cfg.epochs, 1)
    _check_int("batch_size", cfg.batch_size, 1)
    _check_choice("optimizer", cfg.optimizer, OPTIMIZERS)
    _check_float("lr", cfg.lr, 0.0, 10.0, low_open=True)
    _check_mnist_split(cfg)
    _check_latency_device(cfg)


def _check_latency_device(cfg: Any) -> None:
    """latency_batches (when the config has it) and device."""
    if hasattr(cfg, "latency_batches"):
        check(isinstance(cfg.latency_batches, tuple) and len(cfg.latency_batches) > 0
              and all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in cfg.latency_batches),
              "latency_batches", cfg.latency_batches, "a non-empty list of positive integers")
    _check_choice("device", cfg.device, ("auto", "cpu", "cuda"))


def _check_zeroing(cfg: Any) -> None:
    """The shape of the stochastic-zeroing probability p(w): prune_form, prune_scale, prune_factor."""
    _check_choice("prune_form", cfg.prune_form, PRUNE_FORMS)
    _check_choice("prune_scale", cfg.prune_scale, SCALES)
    _check_float("prune_factor", cfg.prune_factor, 0.0, 100.0, low_open=True)
