"""Per-unit norms every few optimizer steps, as tidy rows: the raw material of the theory chapter's plots.

For every node j of every coupling (see :class:`~pruninglib.models.Coupling`): u_j = its fan-in (row j of the
producer's weight, flattened) and v_j = its fan-out (input slice j of every consumer's weight, flattened and
concatenated). Rows: ``{labels..., step, lr, layer, node, u_l2, v_l2, u_l1, v_l1, fan_in_alive, fan_out_alive}``
where ``*_alive`` count non-zero weights.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from pruninglib.models.base import Prunable
from pruninglib.training.loop import Callback, FitState


@torch.no_grad()
def unit_rows(model: nn.Module, step: int, lr: float = float("nan")) -> list[dict[str, Any]]:
    """One row per node of ``model`` (see module docstring); does not change the model."""
    assert isinstance(model, Prunable)
    rows: list[dict[str, Any]] = []
    for c in model.couplings():
        u = model.get_submodule(c.producer).weight.detach().flatten(1)  # (units, fan_in)
        v = torch.cat([model.get_submodule(k).weight.detach().transpose(0, 1).flatten(1)  # (units, fan_out)
                       for k in c.consumers], dim=1)
        cols = {"u_l2": u.norm(dim=1), "v_l2": v.norm(dim=1), "u_l1": u.abs().sum(1), "v_l1": v.abs().sum(1),
                "fan_in_alive": (u != 0).sum(1), "fan_out_alive": (v != 0).sum(1)}
        values = {k: t.cpu().tolist() for k, t in cols.items()}
        for j in range(u.shape[0]):
            rows.append({"step": step, "lr": lr, "layer": c.layer, "node": j, **{k: values[k][j] for k in values}})
    return rows


class UnitTracker(Callback):
    """Records :func:`unit_rows` before training (step 0), every ``every`` optimizer steps and after the last
    step, tagged with ``labels``. Stateful (its rows go into the checkpoint)."""

    def __init__(self, every: int, labels: Mapping[str, Any]) -> None:
        if every < 1:
            raise ValueError(f"every = {every!r} is not allowed: an integer >= 1")
        self.every = every
        self.labels = dict(labels)
        self.rows: list[dict[str, Any]] = []

    def _record(self, state: FitState) -> None:
        lr = float(state.optimizer.param_groups[0]["lr"])
        self.rows.extend({**self.labels, **r} for r in unit_rows(state.model, state.step, lr))

    def on_fit_start(self, state: FitState) -> None:
        self._record(state)

    def on_step_end(self, state: FitState) -> None:
        if state.step % self.every == 0 or state.step == state.total_steps:
            self._record(state)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = list(state["rows"])
