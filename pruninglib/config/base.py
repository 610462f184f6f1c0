"""The machinery of every config: help text, validation helpers that name the parameter, the value and what is
allowed, and :class:`ConfigBase` (validation by concern, building from a mapping, digests, help)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any, Iterable, Mapping

PROFILES = ("smoke", "quick", "medium", "paper")
REGULARIZERS = ("none", "l1", "l2")
PRUNE_FORMS = ("laplace", "gauss", "magnitude")
SCALES = ("std", "mean_abs", "median_abs")
OPTIMIZERS = ("sgd", "adam")
SEED_LIMIT = 2 ** 63  # seeds are torch.Generator / numpy seeds; larger integers overflow inside the run
MAX_WEIGHTS = 10 ** 8  # 400 MB of float32 weights, 1.2 GB with their gradients and momenta: a bound on network sizes


class ConfigError(ValueError):
    """A parameter was unknown or out of range. The message names the parameter, the value and what is allowed."""


def _help(text: str, default: Any) -> Any:
    """A dataclass field with ``default`` and its help text (the comment of the notebook's parameters cell)."""
    return dataclasses.field(default=default, metadata={"help": text})


def check(ok: bool, name: str, value: Any, allowed: str) -> None:
    """Raise ConfigError naming ``name``, ``value`` and what is ``allowed`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"parameter {name!r} = {value!r} is not allowed: {allowed}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    check(value in choices, name, value, f"one of {', '.join(map(repr, choices))}")


def _check_bool(name: str, value: Any) -> None:
    check(isinstance(value, bool), name, value, "true or false")


def _check_int(name: str, value: Any, low: int, high: int | None = None, why: str = "") -> None:
    """An integer >= ``low`` and, when ``high`` is given, <= ``high`` (``why`` says where the bound comes from)."""
    check(_is_int(value) and value >= low, name, value, f"an integer >= {low}")
    if high is not None:
        check(value <= high, name, value, f"an integer from {low} to {high}{why}")


def _check_float(name: str, value: Any, low: float, high: float, *, low_open: bool = False,
                 high_open: bool = False) -> None:
    """A finite number in the interval; NaN and the infinities are never allowed."""
    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = (is_num and (_is_int(value) or math.isfinite(value)) and (value > low if low_open else value >= low)
          and (value < high if high_open else value <= high))
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    check(ok, name, value, f"a number in {lo}{low}, {high}{hi}")


def _check_names(name: str, value: Any, allowed: Iterable[str], *, empty_ok: bool = False, note: str = "") -> None:
    """A tuple of distinct names, each one of ``allowed`` (at least one unless ``empty_ok``)."""
    allowed = tuple(allowed)
    check(isinstance(value, tuple) and (empty_ok or len(value) > 0) and all(v in allowed for v in value)
          and len(set(value)) == len(value), name, value, f"distinct names from {', '.join(allowed)}{note}")


def _check_seed(name: str, value: Any) -> None:
    """One seed: an integer in [0, 2**63)."""
    _check_int(name, value, 0)
    check(value < SEED_LIMIT, name, value, "an integer in [0, 2**63) (a seed)")


def _check_seeds(name: str, value: Any, *, empty_ok: bool = False) -> None:
    """A list of distinct seeds, each in [0, 2**63): a repeated seed would repeat (or resume) the same run."""
    if empty_ok:
        check(isinstance(value, tuple) and all(_is_int(s) and s >= 0 for s in value), name, value,
              "a list of non-negative integers (may be empty)")
    else:
        check(isinstance(value, tuple) and len(value) > 0 and all(_is_int(s) and s >= 0 for s in value),
              name, value, "a non-empty list of non-negative integers")
    check(all(s < SEED_LIMIT for s in value), name, value, "integers in [0, 2**63) (seeds)")
    check(len(set(value)) == len(value), name, value,
          "distinct seeds (a repeated seed would repeat the same run and resume its checkpoints)")


def _check_positive_ints(name: str, value: Any, allowed: str, *, min_len: int = 1, max_len: int | None = None) -> None:
    """A tuple of ``min_len`` to ``max_len`` positive integers; ``allowed`` is the message."""
    check(isinstance(value, tuple) and min_len <= len(value) <= (max_len or len(value))
          and all(_is_int(v) and v >= 1 for v in value), name, value, allowed)


def _check_weights(name: str, value: Any, n_weights: int) -> None:
    """The network that ``value`` describes has at most MAX_WEIGHTS weights (``n_weights``), so it fits in memory."""
    check(n_weights <= MAX_WEIGHTS, name, value,
          f"a network of at most {MAX_WEIGHTS:,} weights (400 MB of float32), not {n_weights:,}")


def without_label(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without ``profile``: a profile's name is a label, not a value, so whatever compares runs by their
    values (checkpoint digests, sweep records) leaves it out."""
    return {k: v for k, v in values.items() if k != "profile"}


class ConfigBase:
    """Shared behaviour of the config dataclasses: validation, building from a mapping, help text, hashing.

    A config is composed of concern groups (:mod:`pruninglib.config.groups`) plus the chapter's own fields. On
    creation, lists become tuples, then the chapter's own fields are checked (``_check_chapter``; the groups' checks
    may depend on them, e.g. how many target sparsities the widths call for), then every group's fields
    (``_check_group`` of each class, from the first concern to the last). Each check raises :class:`ConfigError`.
    """

    def __post_init__(self) -> None:
        self._lists_to_tuples()
        self._check_chapter()
        for cls in reversed(type(self).__mro__):
            group_check = cls.__dict__.get("_check_group")
            if group_check is not None:
                group_check(self)

    def _check_chapter(self) -> None:
        """The checks of the chapter's own fields (none here)."""

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
        """A short hash of the config's values: runs are named by it, and a checkpoint only resumes the same values.

        The profile's name is a label, not a value: a profile renamed with the same values resumes its checkpoints.
        """
        blob = json.dumps(without_label(self.to_dict()), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]
