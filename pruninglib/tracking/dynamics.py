"""Per-epoch dynamics as tidy long-format rows: (labels..., epoch, split, layer, node, metric, value).

Metrics: ``loss`` and ``accuracy`` per split, and ``examples``, how many examples of the split they are computed
on; per prunable weight ``weight_sparsity``; per node layer ``alive_fraction``; per node ``fan_in_norm``. Rows are
plain dicts (checkpointable); :func:`to_frame` makes the DataFrame that plots take.

The tracker evaluates each split on a fixed random subsample (by default at most 5,000 examples, the whole split
when it is smaller), so its per-epoch cost stays small next to an epoch of training: the curves are estimates
(an accuracy near 0.98 from 5,000 examples has a standard error of 0.002), not the chapters' final metrics,
which evaluate whole splits separately.
"""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd
import torch

from pruninglib.data.tensors import Split
from pruninglib.metrics import evaluate
from pruninglib.models.base import Prunable
from pruninglib.pruning.nodes import dead_nodes, fan_in_norms
from pruninglib.training.loop import Callback, FitState

COLUMNS = ["epoch", "split", "layer", "node", "metric", "value"]


def snapshot(model: torch.nn.Module, splits: Mapping[str, Split], epoch: int) -> list[dict[str, Any]]:
    """All rows for ``model`` at ``epoch`` (evaluates every split; does not change the model)."""
    assert isinstance(model, Prunable)
    rows: list[dict[str, Any]] = []

    def add(metric: str, value: float, split: str | None = None, layer: str | None = None,
            node: int | None = None) -> None:
        rows.append({"epoch": epoch, "split": split, "layer": layer, "node": node, "metric": metric,
                     "value": float(value)})

    for name, split in splits.items():
        for metric, value in evaluate(model, split).items():
            add(metric, value, split=name)
        add("examples", len(split), split=name)
    for pname, w in model.prunable().items():
        add("weight_sparsity", float((w == 0).float().mean()), layer=pname.removesuffix(".weight"))
    for layer, dead in dead_nodes(model).items():
        add("alive_fraction", 1.0 - float(dead.float().mean()), layer=layer)
    for layer, norms in fan_in_norms(model).items():
        for j, v in enumerate(norms.tolist()):
            add("fan_in_norm", v, layer=layer, node=j)
    return rows


def subsample(split: Split, max_examples: int | None, seed: int = 0) -> Split:
    """``max_examples`` examples of ``split`` drawn without replacement with a generator seeded ``seed``, in
    their original order; the split itself when it has no more (or ``max_examples`` is None)."""
    if max_examples is None or len(split) <= max_examples:
        return split
    keep = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:max_examples].sort().values
    keep = keep.to(split.x.device)
    return Split(split.x[keep], split.y[keep])


class DynamicsTracker(Callback):
    """Records a :func:`snapshot` before training (epoch 0) and after every epoch, tagged with ``labels``.

    Each split is evaluated on the same :func:`subsample` of at most ``max_examples`` examples (seeded ``seed``;
    None: all) at every snapshot, on the model's device; ``sizes`` says how many per split (the rows say it too,
    metric ``examples``).
    """

    def __init__(self, splits: Mapping[str, Split], labels: Mapping[str, Any], max_examples: int | None = 5000,
                 seed: int = 0) -> None:
        if max_examples is not None and not (isinstance(max_examples, int) and max_examples >= 1):
            raise ValueError(f"max_examples = {max_examples!r} is not allowed: an integer >= 1, or None for all")
        self.splits = {name: subsample(split, max_examples, seed) for name, split in splits.items()}
        self.sizes = {name: len(split) for name, split in self.splits.items()}
        self.labels = dict(labels)
        self.rows: list[dict[str, Any]] = []

    def _record(self, state: FitState) -> None:
        device = next(state.model.parameters()).device
        self.splits = {k: s if s.x.device == device else Split(s.x.to(device), s.y.to(device))
                       for k, s in self.splits.items()}
        self.rows.extend({**self.labels, **r} for r in snapshot(state.model, self.splits, state.epoch))

    on_fit_start = _record
    on_epoch_end = _record

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = list(state["rows"])


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Tidy DataFrame; ``node`` is a nullable integer column."""
    df = pd.DataFrame(rows)
    if "node" in df:
        df["node"] = df["node"].astype("Int64")
    return df
