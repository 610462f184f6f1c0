"""Targets and their verdicts: one typed record and one function for every chapter.

A target is a bound on a per-seed (or per-fold) quantity, for example "hidden nodes removed >= 50%" with one value
per seed. Its verdict comes from the 95% Student-t interval of the mean over those values:

* **met**: the whole interval lies on the allowed side of the bound;
* **met on the mean only**: the mean does, but the interval crosses the bound (one value has no interval, so a
  single seed can never do better than this);
* **missed**: the mean lies on the wrong side.

An exact check (``kind="every"``, e.g. "surgery keeps every logit within 1e-6") is met only if every value is on
the allowed side, and missed otherwise: there is no interval to speak of.

Worked example: nodes removed per seed 0.58, 0.61, 0.52 against ">= 0.5": mean 0.570, sd 0.046, t(0.975, 2) = 4.30,
half-width 4.30 * 0.046 / sqrt(3) = 0.114, interval [0.456, 0.684]: the mean is above 0.5 but the interval is not,
so the verdict is "met on the mean only".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd

from pruninglib.metrics.binary import t_interval

MET, MEAN_ONLY, MISSED = "met", "met on the mean only", "missed"
VERDICTS = (MET, MEAN_ONLY, MISSED)
DIRECTIONS = (">=", ">", "<=", "<")
KINDS = ("mean", "every")


def holds(value: float, direction: str, bound: float) -> bool:
    """``value direction bound``, e.g. holds(0.6, '>=', 0.5) is True."""
    return {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound}[direction]


def verdict(values: Sequence[float], bound: float, direction: str, kind: str = "mean",
            level: float = 0.95) -> dict[str, Any]:
    """n, mean, the ``level`` interval (low, high; NaN for one value) and the verdict of ``values`` against
    ``direction bound`` (see the module docstring)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction = {direction!r} is not allowed: one of {', '.join(DIRECTIONS)}")
    if kind not in KINDS:
        raise ValueError(f"kind = {kind!r} is not allowed: one of {', '.join(KINDS)}")
    vals = [float(v) for v in values]
    if not vals or any(math.isnan(v) for v in vals):
        raise ValueError(f"values = {vals!r} are not allowed: at least one value, none NaN")
    ci = t_interval(vals, level)
    out = {"n": len(vals), "mean": ci["mean"], "low": ci["low"], "high": ci["high"]}
    if kind == "every":
        out["verdict"] = MET if all(holds(v, direction, bound) for v in vals) else MISSED
    elif not holds(ci["mean"], direction, bound):
        out["verdict"] = MISSED
    else:
        worst = ci["low"] if direction.startswith(">") else ci["high"]
        out["verdict"] = MET if not math.isnan(worst) and holds(worst, direction, bound) else MEAN_ONLY
    return out


@dataclass(frozen=True)
class Target:
    """A bound on per-seed values. ``values`` are in the unit the name states (e.g. percent or points);
    ``metric`` names the column they came from; ``kind`` 'mean' (interval verdict) or 'every' (exact check)."""

    name: str
    values: tuple[float, ...]
    bound: float
    direction: str
    metric: str = ""
    kind: str = "mean"
    level: float = 0.95
    note: str = ""
    result: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        object.__setattr__(self, "result", verdict(self.values, self.bound, self.direction, self.kind, self.level))

    @property
    def verdict(self) -> str:
        return str(self.result["verdict"])

    def to_dict(self) -> dict[str, Any]:
        """The record of results.json: name, metric, values, n, mean, low, high, bound, direction, kind, level,
        verdict (and note when given)."""
        out = {"name": self.name, "metric": self.metric, "values": list(self.values), **self.result,
               "bound": self.bound, "direction": self.direction, "kind": self.kind, "level": self.level}
        return {**out, "note": self.note} if self.note else out


def per_seed(table: pd.DataFrame, variant: str, column: str, by: str = "seed") -> pd.Series:
    """``column`` of ``variant``'s rows of a runs table, indexed by ``by`` (seed, or fold)."""
    return table[table["variant"] == variant].set_index(by)[column]


def paired(table: pd.DataFrame, a: str, col_a: str, b: str, col_b: str, by: str = "seed") -> tuple[float, ...]:
    """Per seed (or fold), ``col_a`` of variant ``a`` minus ``col_b`` of variant ``b`` of the SAME seed, in the
    order of the seeds: the values of a paired target such as "shrunk minus dense accuracy"."""
    x, y = per_seed(table, a, col_a, by).sort_index(), per_seed(table, b, col_b, by)
    return tuple(float(v) for v in x - y.reindex(x.index))


def contrast(table: pd.DataFrame, a: str, b: str, column: str, *, column_b: str | None = None, scale: float = 1.0,
             by: str = "seed", level: float = 0.95) -> dict[str, Any]:
    """Variant ``a`` against ``b`` on ``column`` (``column_b`` for ``b``, default the same), paired by seed (or
    fold): n, mean difference a - b (times ``scale``), its ``level`` interval, and ``resolved``: whether the
    interval excludes 0. A conclusion "a differs from b" is drawn only when it is resolved."""
    values = [scale * v for v in paired(table, a, column, b, column_b or column, by)]
    ci = t_interval(values, level)
    resolved = not math.isnan(ci["low"]) and (ci["low"] > 0 or ci["high"] < 0)
    return {"a": a, "b": b, "column": column, "values": values, "n": ci["n"], "mean": ci["mean"],
            "low": ci["low"], "high": ci["high"], "resolved": resolved}


def say_contrast(c: dict[str, Any], what: str, unit: str = " points", digits: int = 1) -> str:
    """``c`` (:func:`contrast`) in words: '<a> minus <b>, <what>: +1.2 points, 95% CI [0.4, 2.0], n = 5:
    resolved', or 'not resolved by these seeds' when the interval includes 0."""
    interval = ("no interval (one value)" if math.isnan(c["low"]) else
                f"95% CI [{c['low']:+.{digits}f}, {c['high']:+.{digits}f}]")
    verdict = "**resolved**" if c["resolved"] else "not resolved by these seeds"
    return (f"{c['a']} minus {c['b']}, {what}: {c['mean']:+.{digits}f}{unit}, {interval}, n = {c['n']}: "
            f"{verdict}")


def decimals(numbers: Sequence[float], bound: float, start: int = 2, limit: int = 8) -> int:
    """The fewest decimals (at least ``start``) at which every finite number keeps its side of ``bound`` when
    rounded, and none rounds onto the bound unless it equals it: so a printed table never lets rounding decide a
    verdict (0.0183 against 0.02 needs 2 decimals, 0.0198 needs 3, 0.01999 needs 4)."""
    finite = [x for x in numbers if math.isfinite(x)]
    for d in range(start, limit + 1):
        if all((round(x, d) > bound) == (x > bound) and (round(x, d) < bound) == (x < bound)
               and (round(x, d) == bound) == (x == bound) for x in finite):
            return d
    return limit
