"""A grid is data: a sweep file (YAML or TOML) read, checked and expanded into validated points.

    chapter: mlp_mnist          # a name of pruninglib.experiments.CHAPTERS
    profile: smoke              # one of the chapter's profiles (default quick, as for `pruninglib run`)
    fixed:                      # parameters set for every point
      epochs: 1
    axes:                       # one list of values per parameter; the grid is their product
      lambda_l2: [0.0, 1e-3]
      seed: [0, 1]              # `seed` is one seed per point: the chapter's `seeds` parameter = [seed]
    exclude:                    # optional: combinations left out (a mapping matches every point it agrees with)
      - {lambda_l2: 0.0, seed: 1}

Every point is validated by the chapter's own config (``Chapter.parameters``) when the file is read, so a bad
axis fails before any work, with a message naming the key and the value.
"""
from __future__ import annotations

import itertools
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from pruninglib.config import ConfigError
from pruninglib.experiments import CHAPTERS, Chapter

SUFFIXES = (".yaml", ".yml", ".toml")
KEYS = ("chapter", "profile", "fixed", "axes", "exclude")
SEED = "seed"  # the axis that maps onto the chapter's `seeds` parameter, one seed per point
SET_BY_STORE = ("out_dir",)  # output locations: the run store chooses them, and they are not part of a point


class SweepError(ConfigError):
    """A sweep file is unreadable or names a key or value that is not allowed; nothing has been run."""


@dataclass(frozen=True)
class Point:
    """One experiment run of a sweep: its axis values and the chapter's full validated parameters.

    ``parameters`` exclude :data:`SET_BY_STORE`; lists stay lists (JSON-ready), floats given as integers in the
    file are floats here, so ``lambda_l2: 0`` and ``lambda_l2: 0.0`` are the same point.
    """

    chapter: str
    values: dict[str, Any]
    parameters: dict[str, Any]


@dataclass(frozen=True)
class Sweep:
    """A sweep file, checked; :attr:`points` is the expanded grid, exclusions removed, in file order."""

    path: Path
    chapter: str
    profile: str
    fixed: dict[str, Any]
    axes: dict[str, list[Any]]
    exclude: list[dict[str, Any]]
    points: list[Point] = field(repr=False)
    excluded: int = 0


def load_sweep(path: str | Path) -> Sweep:
    """Read, check and expand the sweep file at ``path``; raise :class:`SweepError` (naming the file, the key and
    the value) on any problem, before anything is run."""
    path = Path(path)
    chapter, profile, fixed, axes, exclude = _sections(path, _read(path))
    points: list[Point] = []
    seen: dict[str, Point] = {}
    excluded = 0
    for combo in itertools.product(*axes.values()):
        values = dict(zip(axes, combo))
        if any(all(_canon(values[k]) == _canon(v) for k, v in rule.items()) for rule in exclude):
            excluded += 1
            continue
        overrides = {**fixed, **{("seeds" if k == SEED else k): ([v] if k == SEED else v) for k, v in values.items()}}
        try:
            params = chapter.parameters(profile, overrides)
        except (TypeError, ValueError) as exc:  # ConfigError is a ValueError
            raise SweepError(f"sweep file {path}: point {_where(values)}: {exc}") from exc
        point = Point(chapter.name, values, _canonical(chapter.config, params))
        same = seen.setdefault(_canon(point.parameters), point)
        if same is not point:
            raise SweepError(f"sweep file {path}: points {_where(same.values)} and {_where(values)} are the same "
                             "configuration: list each value once per axis")
        points.append(point)
    if not points:
        raise SweepError(f"sweep file {path}: key 'exclude' = {exclude!r} is not allowed: it excludes every point")
    return Sweep(path, chapter.name, profile, fixed, axes, exclude, points, excluded)


def _sections(path: Path, raw: dict[str, Any]) -> tuple[Chapter, str, dict[str, Any], dict[str, list[Any]],
                                                        list[dict[str, Any]]]:
    """The file's chapter, profile, fixed, axes and exclude, each checked for shape (the values themselves are
    checked by the chapter's config when the points are built)."""
    def fail(key: str, value: Any, allowed: str) -> SweepError:
        return SweepError(f"sweep file {path}: key {key!r} = {value!r} is not allowed: {allowed}")

    for key in raw:
        if key not in KEYS:
            raise fail(key, raw[key], f"one of the keys {', '.join(KEYS)}")
    if "chapter" not in raw:
        raise SweepError(f"sweep file {path}: key 'chapter' is missing: one of {', '.join(CHAPTERS)}")
    if not isinstance(raw["chapter"], str) or raw["chapter"] not in CHAPTERS:
        raise fail("chapter", raw["chapter"], f"one of {', '.join(CHAPTERS)}")
    chapter = CHAPTERS.get(raw["chapter"])
    profile = raw.get("profile", "quick")
    if not isinstance(profile, str) or profile not in chapter.profiles:
        raise fail("profile", profile, f"one of {', '.join(chapter.profiles)}")
    fixed, axes = _section(raw, "fixed", {}), _section(raw, "axes", {})
    for key, value in (("fixed", fixed), ("axes", axes)):
        if not isinstance(value, dict):
            raise fail(key, value, "a mapping of parameter names to values")
    for name, values in axes.items():
        if not isinstance(values, list) or not values:
            raise fail(f"axes.{name}", values, "a non-empty list of values")
        if name in fixed:
            raise fail(f"axes.{name}", values, f"a parameter that is not also in 'fixed' (fixed.{name} = "
                                               f"{fixed[name]!r})")
    for name in SET_BY_STORE:
        if name in fixed or name in axes:
            raise fail(name, fixed.get(name, axes.get(name)), "not set in a sweep: the run store chooses it")
    if SEED in axes and "seeds" in {**fixed, **axes}:
        raise fail("seeds", {**fixed, **axes}["seeds"], "absent when 'seed' is an axis (one seed per point)")
    exclude = _section(raw, "exclude", [])
    if not isinstance(exclude, list):
        raise fail("exclude", exclude, "a list of mappings from axis names to values")
    for i, rule in enumerate(exclude):
        if not isinstance(rule, dict) or not rule:
            raise fail(f"exclude[{i}]", rule, "a non-empty mapping from axis names to values")
        for name, value in rule.items():
            if name not in axes:
                raise fail(f"exclude[{i}].{name}", value, f"an axis name: one of {', '.join(axes) or '(none)'}")
            if _canon(value) not in map(_canon, axes[name]):
                raise fail(f"exclude[{i}].{name}", value, f"one of the axis values {axes[name]}")
    return chapter, profile, fixed, axes, exclude


def _read(path: Path) -> dict[str, Any]:
    if path.suffix not in SUFFIXES:
        raise SweepError(f"sweep file {path}: the name must end in {', '.join(SUFFIXES)}")
    try:
        text = path.read_text()
    except OSError as exc:
        raise SweepError(f"sweep file {path} cannot be read: {exc.strerror or exc}") from exc
    if path.suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            raw: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SweepError(f"sweep file {path} is not valid TOML: {exc}") from exc
    else:
        try:
            raw = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
        except yaml.YAMLError as exc:
            raise SweepError(f"sweep file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SweepError(f"sweep file {path}: the file holds {type(raw).__name__} {raw!r}; expected a mapping with "
                         f"the keys {', '.join(KEYS)}")
    return raw


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``; users write both)."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
    r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+"
    r"|\.(?:inf|Inf|INF)|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))


def _section(raw: dict[str, Any], key: str, empty: Any) -> Any:
    """``raw[key]``; ``empty`` when absent or left blank (YAML reads ``fixed:`` with nothing after it as None)."""
    value = raw.get(key)
    return empty if value is None else value


def _canon(value: Any) -> str:
    """A value as canonical JSON, to compare values of any type (lists and mappings included)."""
    return json.dumps(value, sort_keys=True, default=str)


def _where(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items()) or "(the only point)"


def _canonical(config: type, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` without :data:`SET_BY_STORE`, with integers given for float fields turned into floats, so one
    configuration has one JSON form (and one hash in the run store)."""
    hints = typing.get_type_hints(config)
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name in SET_BY_STORE:
            continue
        hint = hints.get(name)
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif hint == tuple[float, ...] and isinstance(value, list):
            value = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        out[name] = value
    return out
