"""What every model declares so that pruning, tracking and surgery need no special cases.

A model registers with :data:`MODELS`, is rebuilt from its :meth:`spec` (a plain dict, so saved models need no
pickled classes), lists its prunable weights by parameter name, and describes its layer couplings as data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from pruninglib.registry import Registry

MODELS: Registry[type[nn.Module]] = Registry("model")


@dataclass(frozen=True)
class Coupling:
    """The output units ("nodes") of ``producer`` feed the input units of each of ``consumers``.

    ``norm`` names an optional per-channel normalisation (e.g. BatchNorm) between the producer and the activation,
    ``activation`` is applied after it; a node whose fan-in weights are all zero carries the constant
    ``activation(norm(bias))`` (in eval mode), which surgery folds into the consumers' biases. Whatever else sits
    between producer and consumers (pooling, global average pooling, flattening of 1x1 maps) must map a constant
    channel to the same constant. ``layer`` is the label used in tracking and plots (for example ``"hidden 1"``).

    ``offsets`` (one per consumer, or empty) say where the producer's channels start among a consumer's input
    channels, counted in the model as declared (before any surgery): a consumer fed by a concatenation has one
    coupling per part, e.g. a U-Net decoder conv on ``cat([skip (16 ch), up (16 ch)])`` is a consumer at offset 0
    of the skip's coupling and at offset 16 of the up-conv's. Empty means every consumer's inputs are exactly the
    producer's outputs.
    """

    layer: str
    producer: str
    consumers: tuple[str, ...]
    activation: str = "relu"
    norm: str | None = None
    offsets: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.offsets and len(self.offsets) != len(self.consumers):
            raise ValueError(f"coupling {self.layer!r}: offsets {self.offsets} are not allowed: one per consumer "
                             f"({len(self.consumers)})")


@runtime_checkable
class Prunable(Protocol):
    def spec(self) -> dict[str, Any]: ...
    def prunable(self) -> dict[str, nn.Parameter]: ...
    def couplings(self) -> list[Coupling]: ...


class NotPrunableError(TypeError):
    """A model without ``spec()``, ``prunable()`` and ``couplings()`` (:class:`Prunable`) where one is needed."""


def build_model(spec: dict[str, Any]) -> nn.Module:
    """Build a model from ``{"name": ..., "kwargs": {...}}`` via the registry."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"model spec {spec!r} is not allowed: a dict with 'name' and 'kwargs'")
    return MODELS.get(spec["name"])(**spec.get("kwargs", {}))


def save_model(model: nn.Module, path: str) -> str:
    """Save architecture spec plus state dict (atomically); :func:`load_model` rebuilds it without pickled code."""
    from pruninglib._io import atomic_path

    if not isinstance(model, Prunable):
        raise NotPrunableError(f"model = {type(model).__name__} cannot be saved: it must offer spec(), prunable() "
                               f"and couplings() (pruninglib.models.base.Prunable)")
    with atomic_path(path) as tmp:
        torch.save({"format": "pruninglib-model/1", "spec": model.spec(),
                    "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}, tmp)
    return str(path)


def load_model(path: str, map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a model saved by :func:`save_model` (``weights_only``: no code is unpickled)."""
    blob = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != "pruninglib-model/1":
        raise ValueError(f"{path} is not a pruninglib model file (expected format 'pruninglib-model/1')")
    model = build_model(blob["spec"])
    model.load_state_dict(blob["state_dict"])
    return model.eval()
