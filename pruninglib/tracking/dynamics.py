"""Per-epoch dynamics as tidy long-format rows: (labels..., epoch, split, layer, node, metric, value).

Metrics: ``loss`` and ``accuracy`` per split; per prunable weight ``weight_sparsity``; per node layer
``alive_fraction``; per node ``fan_in_norm``. Rows are plain dicts (checkpointable); :func:`to_frame` makes the
DataFrame that plots take.
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
    for pname, w in model.prunable().items():
        add("weight_sparsity", float((w == 0).float().mean()), layer=pname.removesuffix(".weight"))
    for layer, dead in dead_nodes(model).items():
        add("alive_fraction", 1.0 - float(dead.float().mean()), layer=layer)
    for layer, norms in fan_in_norms(model).items():
        for j, v in enumerate(norms.tolist()):
            add("fan_in_norm", v, layer=layer, node=j)
    return rows


class DynamicsTracker(Callback):
    """Records a :func:`snapshot` before training (epoch 0) and after every epoch, tagged with ``labels``."""

    def __init__(self, splits: Mapping[str, Split], labels: Mapping[str, Any]) -> None:
        self.splits = dict(splits)
        self.labels = dict(labels)
        self.rows: list[dict[str, Any]] = []

    def _record(self, state: FitState) -> None:
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
